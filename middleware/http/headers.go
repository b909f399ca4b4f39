package httpcache

import (
	"net/http"
	"strings"
)

// hopByHop are the connection-level headers that are never stored (RFC 9110 §7.6.1, §7.8).
var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// notStored are end-to-end headers the cache recomputes or keeps to itself.
var notStored = map[string]bool{
	"Cache-Status": true,
	"Age":          false, // kept: it feeds the age calculation, and is replaced on reuse
}

// storedHeader copies the headers of a response that may be stored: hop-by-hop headers, those
// named in Connection, the surrogate-key header and Cache-Status are left out. Every value slice
// of the copy has len == cap, so that appending to a header copied from it never writes into the
// stored entry.
func (c *Cache) storedHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	var named []string
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = trimOWS(f); f != "" {
				named = append(named, http.CanonicalHeaderKey(f))
			}
		}
	}
outer:
	for k, vs := range h {
		if hopByHop[k] || notStored[k] || k == c.opts.SurrogateKeyHeader || len(vs) == 0 {
			continue
		}
		for _, n := range named {
			if n == k {
				continue outer
			}
		}
		cp := make([]string, len(vs))
		copy(cp, vs)
		out[k] = cp
	}
	return out
}

// surrogateKeys returns the tags of a response.
func (c *Cache) surrogateKeys(h http.Header) []string {
	var tags []string
	for _, v := range h[c.opts.SurrogateKeyHeader] {
		tags = append(tags, strings.Fields(v)...)
	}
	return tags
}

// isUpgrade reports a request asking to switch protocols (WebSocket and others).
func isUpgrade(r *http.Request) bool {
	if _, ok := r.Header["Upgrade"]; ok {
		return true
	}
	for _, v := range r.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(trimOWS(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// hasBody reports a request that carries content.
func hasBody(r *http.Request) bool {
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		return true
	}
	if r.ContentLength < 0 { // unknown length: only a server-side request with no body is http.NoBody
		return r.Body != nil && r.Body != http.NoBody
	}
	return false
}

func isSafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}
