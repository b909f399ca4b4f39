package httpcache

import (
	"net/http"

	"github.com/stratacache/strata/internal/cachecontrol"
)

// Cache directives are parsed by internal/cachecontrol, the one parser shared with the gRPC
// interceptors; these names keep the engine's code short.
type cacheControl = cachecontrol.Directives

const (
	ccNoStore              = cachecontrol.NoStore
	ccNoCache              = cachecontrol.NoCache
	ccPrivate              = cachecontrol.Private
	ccPublic               = cachecontrol.Public
	ccMustRevalidate       = cachecontrol.MustRevalidate
	ccProxyRevalidate      = cachecontrol.ProxyRevalidate
	ccMustUnderstand       = cachecontrol.MustUnderstand
	ccOnlyIfCached         = cachecontrol.OnlyIfCached
	ccMaxAge               = cachecontrol.MaxAge
	ccSMaxAge              = cachecontrol.SMaxAge
	ccMaxStale             = cachecontrol.MaxStale
	ccMaxStaleAny          = cachecontrol.MaxStaleAny
	ccMinFresh             = cachecontrol.MinFresh
	ccStaleWhileRevalidate = cachecontrol.StaleWhileRevalidate
	ccStaleIfError         = cachecontrol.StaleIfError
)

// parseCacheControl parses every Cache-Control line of h.
func parseCacheControl(h http.Header) cacheControl { return cachecontrol.Parse(h["Cache-Control"]) }

// policyOf parses the field that sets a stored response's policy: field is a targeted field
// (RFC 9213) that responsePolicy chose, or "" for Cache-Control.
func policyOf(h http.Header, field string) cacheControl {
	if field == "" {
		return parseCacheControl(h)
	}
	cc, _ := cachecontrol.ParseTargeted(h[field])
	return cc
}

// responsePolicy picks the field that sets a response's caching policy: the first of targeted
// (RFC 9213 targeted fields such as CDN-Cache-Control) present with a non-empty value that is a
// valid Structured Field Dictionary, else Cache-Control (field == "").
func responsePolicy(h http.Header, targeted []string) (cc cacheControl, field string) {
	for _, name := range targeted {
		lines := h[name]
		nonEmpty := false
		for _, v := range lines {
			nonEmpty = nonEmpty || trimOWS(v) != ""
		}
		if !nonEmpty {
			continue
		}
		if cc, ok := cachecontrol.ParseTargeted(lines); ok {
			return cc, name
		}
	}
	return parseCacheControl(h), ""
}

// parseDelta parses delta-seconds: one or more digits. Values past 2^31 become 2^31.
func parseDelta(s string) (int64, bool) { return cachecontrol.ParseDelta(s) }

func trimOWS(s string) string { return cachecontrol.TrimOWS(s) }
