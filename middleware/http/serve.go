package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// headersOf304 are the stored headers a 304 carries (RFC 9110 §15.4.5).
var headersOf304 = []string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary", "Last-Modified"}

// serveEntry writes a stored response, or a 304 when the request's validators match it.
func (c *Cache) serveEntry(w http.ResponseWriter, r *http.Request, e *entry, now int64, st cacheStatus) {
	h := w.Header()
	var ageV, statusV []string
	if st == (cacheStatus{hit: true}) {
		ageV, statusV = c.hitHeaders(e, now)
	} else {
		ageV = []string{strconv.FormatInt(max(0, e.age(now))/int64(time.Second), 10)}
	}
	if notModified(r, e) {
		for _, k := range headersOf304 {
			if vs, ok := e.header[k]; ok {
				h[k] = vs
			}
		}
		h["Age"] = ageV
		c.writeStatus(h, st, statusV)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for _, f := range e.fields {
		h[f.name] = f.values // len == cap: an append by an outer middleware copies
	}
	h["Age"] = ageV
	c.writeStatus(h, st, statusV)
	if r.Method == http.MethodGet && e.status == http.StatusOK {
		if rng, ok := r.Header["Range"]; ok && serveRange(w, r, e, rng) {
			return
		}
	}
	if bodyAllowed(e.status) {
		h["Content-Length"] = e.lengthV
	} else {
		delete(h, "Content-Length")
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead && len(e.body) > 0 {
		_, _ = w.Write(e.body)
	}
}

// notModified evaluates If-None-Match, or else If-Modified-Since, against e (RFC 9110 §13.2.2).
func notModified(r *http.Request, e *entry) bool {
	if e.status != http.StatusOK {
		return false
	}
	if inm, ok := r.Header["If-None-Match"]; ok {
		if e.etag == "" {
			return false
		}
		for _, line := range inm {
			for t := range strings.SplitSeq(line, ",") {
				t = trimOWS(t)
				if t == "*" || weakMatch(t, e.etag) {
					return true
				}
			}
		}
		return false
	}
	ims := r.Header["If-Modified-Since"]
	if len(ims) == 0 || ims[0] == "" {
		return false
	}
	since, ok := parseHTTPDate(ims[0])
	if !ok {
		return false
	}
	lm := e.lastModified
	if lm == "" {
		lm = e.header.Get("Date")
	}
	mod, ok := parseHTTPDate(lm)
	return ok && !mod.After(since)
}

// weakMatch compares two entity tags with the weak comparison function.
func weakMatch(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

func containsToken(v, tok string) bool {
	for f := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(trimOWS(f), tok) {
			return true
		}
	}
	return false
}

// hitHeaders returns the Age and Cache-Status values of a plain fresh hit on e, shared by the
// hits of the same second (slices with len == cap: appending to them copies).
func (c *Cache) hitHeaders(e *entry, now int64) (age, status []string) {
	sec := max(0, e.age(now)) / int64(time.Second)
	if hc := e.hits.Load(); hc != nil && hc.sec == sec && hc.c == c {
		return hc.age, hc.status
	}
	hc := &hitHeaders{c: c, sec: sec, age: []string{strconv.FormatInt(sec, 10)}}
	hc.status = []string{c.statusValue(cacheStatus{hit: true, hasTTL: true, ttl: e.lifetime/int64(time.Second) - sec})}
	e.hits.Store(hc)
	return hc.age, hc.status
}

// writeStatus sets Cache-Status from st, or from a precomputed value.
func (c *Cache) writeStatus(h http.Header, st cacheStatus, pre []string) {
	if pre != nil {
		if _, ok := h["Cache-Status"]; ok {
			appendStatus(h, pre[0])
		} else {
			h["Cache-Status"] = pre
		}
		return
	}
	c.setStatus(h, st)
}
