package httpcache

import (
	"net/http"
	"strconv"
	"time"
)

// entry is what the middleware stores: a response (or, for URLs whose responses carry Vary, a
// marker naming the Vary'd headers and listing the stored variants). Entries are immutable once
// stored; L1 holds them as they are, shared by concurrent requests.
type entry struct {
	// Encoded fields.
	key       string   // canonical key: the full fingerprint, compared on every hit
	marker    bool     // a Vary marker rather than a response
	varyNames []string // sorted canonical names of the Vary'd request headers
	varyVals  string   // the normalized values of those headers that selected this variant
	variants  []string // marker only: storage keys of the variants
	expiresAt int64    // marker only: when the tiered cache drops it (Unix ns)
	status    int
	header    http.Header
	body      []byte
	reqTime   int64 // when the request that produced the response was sent (Unix ns)
	respTime  int64 // when its response was received (Unix ns)
	defTTL    int64 // the route's default lifetime (ns), used when the response has no freshness
	defStale  int64 // the route's default stale-while-revalidate window (ns)

	// Derived from the encoded fields by derive.
	cc           cacheControl
	lifetime     int64 // freshness lifetime (ns)
	initialAge   int64 // corrected initial age (ns), RFC 9111 §4.2.3
	etag         string
	lastModified string
	authOK       bool // may be served to requests with Authorization
	noStale      bool // must not be served stale (must-revalidate, proxy-revalidate, s-maxage)
	lengthStr    string
}

// derive computes the fields that follow from the stored ones.
func (e *entry) derive() {
	if e.marker {
		return
	}
	h := e.header
	e.cc = parseCacheControl(h)
	e.etag = h.Get("Etag")
	e.lastModified = h.Get("Last-Modified")
	e.authOK = e.cc.has(ccPublic | ccSMaxAge | ccMustRevalidate)
	e.noStale = e.cc.has(ccMustRevalidate | ccProxyRevalidate | ccSMaxAge | ccNoCache)
	e.lengthStr = strconv.Itoa(len(e.body))
	e.lifetime = e.freshnessLifetime()

	// Age calculation, RFC 9111 §4.2.3.
	date, dateOK := parseHTTPDate(h.Get("Date"))
	var apparent int64
	if dateOK {
		apparent = max(0, e.respTime-date.UnixNano())
	}
	var ageValue int64
	if a, ok := parseDelta(h.Get("Age")); ok {
		ageValue = a * int64(time.Second)
	}
	corrected := ageValue + max(0, e.respTime-e.reqTime)
	e.initialAge = max(apparent, corrected)
}

// hasExplicitFreshness reports whether the response says how long it is fresh.
func hasExplicitFreshness(h http.Header, cc *cacheControl) bool {
	if cc.has(ccSMaxAge | ccMaxAge) {
		return true
	}
	_, ok := h["Expires"]
	return ok
}

// freshnessLifetime follows RFC 9111 §4.2.1 for a shared cache: s-maxage, then max-age, then
// Expires minus Date, then the route's default (no heuristic freshness otherwise).
func (e *entry) freshnessLifetime() int64 {
	switch {
	case e.cc.has(ccSMaxAge):
		return e.cc.sMaxAge * int64(time.Second)
	case e.cc.has(ccMaxAge):
		return e.cc.maxAge * int64(time.Second)
	}
	if vs, ok := e.header["Expires"]; ok {
		if len(vs) != 1 {
			return 0
		}
		exp, ok := parseHTTPDate(vs[0])
		if !ok {
			return 0 // an invalid Expires means already expired
		}
		base := e.respTime
		if d, ok := parseHTTPDate(e.header.Get("Date")); ok {
			base = d.UnixNano()
		}
		return max(0, exp.UnixNano()-base)
	}
	return e.defTTL
}

// age is the entry's current age at now (Unix ns).
func (e *entry) age(now int64) int64 {
	return e.initialAge + max(0, now-e.respTime)
}

// swrWindow is how long past its lifetime the entry may be served while it is revalidated.
func (e *entry) swrWindow() int64 {
	if e.cc.has(ccStaleWhileRevalidate) {
		return e.cc.swr * int64(time.Second)
	}
	if !hasExplicitFreshness(e.header, &e.cc) {
		return e.defStale
	}
	return 0
}

// sieWindow is how long past its lifetime the entry may be served when the origin fails.
func (e *entry) sieWindow() int64 {
	if e.cc.has(ccStaleIfError) {
		return e.cc.sie * int64(time.Second)
	}
	return 0
}

func (e *entry) hasValidator() bool { return e.etag != "" || e.lastModified != "" }

// parseHTTPDate parses an HTTP-date in any of the three formats of RFC 9110 §5.6.7.
func parseHTTPDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}
