package httpcache

import (
	"mime"
	"net/http"
	"time"
)

// understood are the final statuses whose semantics the cache knows (for must-understand).
func understood(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// defaultable are the non-error statuses a route's default TTL may apply to.
func defaultable(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308:
		return true
	}
	return false
}

// heuristicStatus are the statuses that are heuristically cacheable (RFC 9110 §15.1), but for
// 206, which is never stored.
func heuristicStatus(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// heuristicLifetime is the heuristic freshness lifetime (ns) of a response with header h and
// policy cc, without explicit freshness, received at respTime (RFC 9111 §4.2.2), or 0 when it
// gets none: heuristic freshness is off, the status is not heuristically cacheable and the
// response is not public, or Last-Modified is missing, invalid or not in the past.
func (c *Cache) heuristicLifetime(status int, h http.Header, cc *cacheControl, respTime int64) int64 {
	if c.opts.MaxHeuristicFreshness <= 0 || !(heuristicStatus(status) || cc.Has(ccPublic)) {
		return 0
	}
	lm, ok := parseHTTPDate(h.Get("Last-Modified"))
	if !ok {
		return 0
	}
	base := respTime
	if d, ok := parseHTTPDate(h.Get("Date")); ok {
		base = min(base, d.UnixNano())
	}
	since := base - lm.UnixNano()
	if since <= 0 {
		return 0
	}
	return min(int64(float64(since)*c.opts.HeuristicFraction), int64(c.opts.MaxHeuristicFreshness))
}

// reqInfo is what the engine learned about a request before calling the origin.
type reqInfo struct {
	cc       cacheControl
	auth     bool // carries Authorization
	unkeyed  bool // carries a header from Options.UnkeyedHeaders
	unkeyedH []string
	get      bool // method is GET (HEAD responses are never stored)
}

// storable decides whether a response may be stored, following RFC 9111 §3 and the security
// defaults. reason is a fixed token for Cache-Status when it may not.
func (c *Cache) storable(ri *reqInfo, rt *Route, status int, h http.Header) (ok bool, reason string) {
	if !ri.get {
		return false, "method"
	}
	if ri.cc.Has(ccNoStore) {
		return false, "request-no-store"
	}
	if status == http.StatusPartialContent || status == http.StatusNotModified {
		return false, "status"
	}
	if status < 200 || status > 599 {
		return false, "status"
	}
	cc, field := responsePolicy(h, c.opts.TargetedCacheControl)
	switch {
	case cc.Has(ccNoStore) && !(cc.Has(ccMustUnderstand) && understood(status)):
		// must-understand lets a cache that knows the status ignore no-store (RFC 9111 §5.2.2.3).
		return false, "no-store"
	case cc.Has(ccPrivate):
		return false, "private"
	case cc.Has(ccMustUnderstand) && !understood(status):
		return false, "status"
	}
	if _, ok := h["Set-Cookie"]; ok {
		return false, "set-cookie"
	}
	if isEventStream(h) {
		return false, "stream"
	}
	if _, ok := h["Trailer"]; ok {
		return false, "trailer"
	}
	names, star := varyNames(h)
	if star {
		return false, "vary-star"
	}
	explicit := hasExplicitFreshness(h, &cc, field)
	// A response to a request with Authorization is shared only when it says so (RFC 9111 §3.5)
	// and says how long for itself: a route's default TTL never applies to it.
	if ri.auth && (!cc.Has(ccPublic|ccSMaxAge|ccMustRevalidate) || !explicit) {
		return false, "authorization"
	}
	if !unkeyedKeyed(ri, names) {
		return false, "unkeyed-header"
	}
	_, etag := h["Etag"]
	_, lm := h["Last-Modified"]
	validator := etag || lm
	switch {
	case explicit:
		return true, ""
	case cc.Has(ccNoCache):
		// Stored only to be revalidated, which needs a validator.
		if validator && defaultable(status) {
			return true, ""
		}
		return false, "no-freshness"
	case !rt.Strategy.IsZero() && rt.Strategy.TTL > 0 && defaultable(status):
		return true, ""
	case c.heuristicLifetime(status, h, &cc, time.Now().UnixNano()) > 0:
		return true, ""
	case validator && defaultable(status):
		return true, "" // stale at once, kept for revalidation
	}
	return false, "no-freshness"
}

// unkeyedKeyed reports whether every unkeyed header the request carried is named in Vary (names),
// so that a response generated from them can only be served to requests that carry the same.
func unkeyedKeyed(ri *reqInfo, names []string) bool {
	if !ri.unkeyed {
		return true
	}
	for _, n := range ri.unkeyedH {
		if !contains(names, n) {
			return false
		}
	}
	return true
}

func contains(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

// isEventStream reports a server-sent events response, which streams and is never stored.
func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}
