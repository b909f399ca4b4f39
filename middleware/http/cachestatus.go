package httpcache

import (
	"net/http"
	"strconv"
	"strings"
)

// cacheStatus is one Cache-Status entry (RFC 9211). It holds only fixed tokens and numbers: never
// a key, a URL or a header value.
type cacheStatus struct {
	hit       bool
	fwd       string // bypass, method, uri-miss, vary-miss, miss, request, stale (RFC 9211 §2.2)
	fwdStatus int
	stored    bool
	collapsed bool
	hasTTL    bool
	ttl       int64 // seconds; negative for a stale entry
	detail    string
}

func (c *Cache) statusValue(s cacheStatus) string {
	var b strings.Builder
	b.Grow(64)
	b.WriteString(c.opts.Name)
	if s.hit {
		b.WriteString("; hit")
	}
	if s.fwd != "" {
		b.WriteString("; fwd=")
		b.WriteString(s.fwd)
	}
	if s.fwdStatus != 0 {
		b.WriteString("; fwd-status=")
		b.WriteString(strconv.Itoa(s.fwdStatus))
	}
	if s.stored {
		b.WriteString("; stored")
	}
	if s.collapsed {
		b.WriteString("; collapsed")
	}
	if s.hasTTL {
		b.WriteString("; ttl=")
		b.WriteString(strconv.FormatInt(s.ttl, 10))
	}
	if s.detail != "" {
		b.WriteString("; detail=")
		b.WriteString(s.detail)
	}
	return b.String()
}

// setStatus adds this cache's member to h's Cache-Status. RFC 9211 §2 orders the members from
// the cache nearest the origin to the one nearest the user, so this cache's goes last, after
// those the origin's response brought.
func (c *Cache) setStatus(h http.Header, s cacheStatus) {
	appendStatus(h, c.statusValue(s))
}

func appendStatus(h http.Header, v string) {
	if old := h["Cache-Status"]; len(old) > 0 {
		v = strings.Join(old, ", ") + ", " + v
	}
	h["Cache-Status"] = []string{v}
}
