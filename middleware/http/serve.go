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
	age := strconv.FormatInt(max(0, e.age(now))/int64(time.Second), 10)
	if notModified(r, e) {
		for _, k := range headersOf304 {
			if vs, ok := e.header[k]; ok {
				h[k] = vs
			}
		}
		h["Age"] = []string{age}
		c.setStatus(h, st)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for k, vs := range e.header {
		h[k] = vs // len == cap: an append by an outer middleware copies
	}
	h["Age"] = []string{age}
	c.setStatus(h, st)
	if bodyAllowed(e.status) {
		h["Content-Length"] = []string{e.lengthStr}
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
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	since, ok := parseHTTPDate(ims)
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
