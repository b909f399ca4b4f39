package httpcache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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
	reqTime   int64  // when the request that produced the response was sent (Unix ns)
	respTime  int64  // when its response was received (Unix ns)
	defTTL    int64  // the route's default or the heuristic lifetime (ns), used when the response has no explicit freshness
	defStale  int64  // the route's default stale-while-revalidate window (ns)
	ccField   string // the targeted field (RFC 9213) that sets the policy; "" for Cache-Control

	// Derived from the encoded fields by derive.
	cc           cacheControl
	lifetime     int64 // freshness lifetime (ns)
	initialAge   int64 // corrected initial age (ns), RFC 9111 §4.2.3
	etag         string
	lastModified string
	authOK       bool                        // may be served to requests with Authorization
	noStale      bool                        // must not be served stale (must-revalidate, proxy-revalidate, s-maxage)
	lengthV      []string                    // Content-Length value, shared (len == cap)
	fields       []field                     // e.header as a list, for serving without map iteration
	hits         *atomic.Pointer[hitHeaders] // Age and Cache-Status of the current second's hits
}

// field is one stored header.
type field struct {
	name   string
	values []string
}

// hitHeaders are the header values shared by the hits of one second.
type hitHeaders struct {
	c           *Cache
	sec         int64
	age, status []string
}

// derive computes the fields that follow from the stored ones.
func (e *entry) derive() {
	e.hits = new(atomic.Pointer[hitHeaders])
	if e.marker {
		return
	}
	h := e.header
	e.cc = policyOf(h, e.ccField)
	e.etag = h.Get("Etag")
	e.lastModified = h.Get("Last-Modified")
	// Only a response that says it may be shared and how long it is fresh goes to requests with
	// Authorization: never one whose lifetime is the route's default.
	e.authOK = e.cc.Has(ccPublic|ccSMaxAge|ccMustRevalidate) && hasExplicitFreshness(h, &e.cc, e.ccField)
	e.noStale = e.cc.Has(ccMustRevalidate | ccProxyRevalidate | ccSMaxAge | ccNoCache)
	e.lengthV = []string{strconv.Itoa(len(e.body))}
	e.fields = make([]field, 0, len(h)) // never reuse: a freshened copy shares the old slice
	for k, vs := range h {
		e.fields = append(e.fields, field{k, vs[:len(vs):len(vs)]})
	}
	slices.SortFunc(e.fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	e.lifetime = e.freshnessLifetime()

	// Age calculation, RFC 9111 §4.2.3.
	date, dateOK := parseHTTPDate(h.Get("Date"))
	var apparent int64
	if dateOK {
		apparent = max(0, e.respTime-date.UnixNano())
	}
	var ageValue int64
	if a, ok := parseAge(h); ok {
		ageValue = a * int64(time.Second)
	}
	corrected := ageValue + max(0, e.respTime-e.reqTime)
	e.initialAge = max(apparent, corrected)
}

// parseAge reads the first member of the first Age line; a list such as "7200, 0" is taken at
// its first value.
func parseAge(h http.Header) (int64, bool) {
	vs := h["Age"]
	if len(vs) == 0 {
		return 0, false
	}
	v, _, _ := strings.Cut(vs[0], ",")
	return parseDelta(trimOWS(v))
}

// hasExplicitFreshness reports whether the response says how long it is fresh. Under a targeted
// field (field != ""), Expires does not count.
func hasExplicitFreshness(h http.Header, cc *cacheControl, field string) bool {
	if cc.Has(ccSMaxAge | ccMaxAge) {
		return true
	}
	if field != "" {
		return false
	}
	_, ok := h["Expires"]
	return ok
}

// freshnessLifetime follows RFC 9111 §4.2.1 for a shared cache: s-maxage, then max-age, then
// Expires minus Date, then the route's default or the heuristic lifetime (defTTL).
func (e *entry) freshnessLifetime() int64 {
	switch {
	case e.cc.Has(ccSMaxAge):
		return e.cc.SMaxAge * int64(time.Second)
	case e.cc.Has(ccMaxAge):
		return e.cc.MaxAge * int64(time.Second)
	}
	if vs, ok := e.header["Expires"]; ok && e.ccField == "" {
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
	if e.cc.Has(ccStaleWhileRevalidate) {
		return e.cc.SWR * int64(time.Second)
	}
	if !hasExplicitFreshness(e.header, &e.cc, e.ccField) {
		return e.defStale
	}
	return 0
}

// sieWindow is how long past its lifetime the entry may be served when the origin fails.
func (e *entry) sieWindow() int64 {
	if e.cc.Has(ccStaleIfError) {
		return e.cc.SIE * int64(time.Second)
	}
	return 0
}

func (e *entry) hasValidator() bool { return e.etag != "" || e.lastModified != "" }

// httpDateLayouts are the three HTTP-date formats of RFC 9110 §5.6.7.
var httpDateLayouts = []string{http.TimeFormat, time.RFC850, time.ANSIC}

// parseHTTPDate parses an HTTP-date strictly: time.Parse alone accepts runs of spaces and
// one-digit fields that the grammar does not, so the value must also format back to itself (the
// case of letters and the day name aside: a wrong day name does not make a date invalid).
func parseHTTPDate(s string) (time.Time, bool) {
	if len(s) < 4 {
		return time.Time{}, false
	}
	if n := len(s); strings.EqualFold(s[n-4:], " GMT") {
		s = s[:n-3] + "GMT"
	}
	for _, layout := range httpDateLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if strings.EqualFold(afterDayName(t.Format(layout)), afterDayName(s)) {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func afterDayName(s string) string {
	if i := strings.IndexAny(s, " ,"); i >= 0 {
		return s[i:]
	}
	return s
}
