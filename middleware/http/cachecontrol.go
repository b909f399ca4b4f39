package httpcache

import (
	"net/http"
	"strings"
)

// Cache-Control parsing. No maintained Go parser fits a shared cache's needs (duplicate and
// invalid values, quoted arguments, the request directives and the RFC 5861 extensions), so this
// small one is ours; it has unit tests and a fuzz target.

// ccFlag is one boolean directive, or a marker that a directive with an argument was present.
type ccFlag uint32

const (
	ccNoStore ccFlag = 1 << iota
	ccNoCache
	ccPrivate
	ccPublic
	ccMustRevalidate
	ccProxyRevalidate
	ccMustUnderstand
	ccOnlyIfCached
	ccImmutable
	ccMaxAge
	ccSMaxAge
	ccMaxStale
	ccMaxStaleAny // max-stale without a value: any staleness is acceptable
	ccMinFresh
	ccStaleWhileRevalidate
	ccStaleIfError
)

// maxDelta is the largest delta-seconds value kept (RFC 9111 §1.2.2): larger values, and values
// that overflow, become 2^31.
const maxDelta = 1 << 31

// cacheControl holds the directives of the Cache-Control header lines of one message. Durations
// are in seconds.
type cacheControl struct {
	flags    ccFlag
	maxAge   int64
	sMaxAge  int64
	maxStale int64
	minFresh int64
	swr      int64
	sie      int64
}

func (cc *cacheControl) has(f ccFlag) bool { return cc.flags&f != 0 }

// parseCacheControl parses every Cache-Control line of h. Unknown directives are ignored.
// Following RFC 9111 §4.2.1, a max-age or s-maxage whose value is invalid or given twice with
// different values makes the response stale (0).
func parseCacheControl(h http.Header) cacheControl { return parseField(h, "Cache-Control") }

// parseField parses the lines of the Cache-Control-like field name.
func parseField(h http.Header, name string) cacheControl {
	var cc cacheControl
	for _, line := range h[name] {
		cc.parseLine(line)
	}
	return cc
}

// responsePolicy picks the field that sets a response's caching policy: the first of targeted
// (RFC 9213 targeted fields such as CDN-Cache-Control) present with a non-empty value, else
// Cache-Control (field == "").
func responsePolicy(h http.Header, targeted []string) (cc cacheControl, field string) {
	for _, name := range targeted {
		lines := h[name]
		nonEmpty := false
		for _, v := range lines {
			nonEmpty = nonEmpty || trimOWS(v) != ""
		}
		if nonEmpty && validTargetedField(lines) {
			return parseField(h, name), name
		}
	}
	return parseCacheControl(h), ""
}

func (cc *cacheControl) parseLine(s string) {
	for len(s) > 0 {
		var name, value string
		var hasValue bool
		name, value, hasValue, s = nextDirective(s)
		if name == "" {
			continue
		}
		switch strings.ToLower(name) {
		case "no-store":
			cc.flags |= ccNoStore
		case "no-cache":
			cc.flags |= ccNoCache // a field-name list is treated as unqualified: stricter
		case "private":
			cc.flags |= ccPrivate
		case "public":
			cc.flags |= ccPublic
		case "must-revalidate":
			cc.flags |= ccMustRevalidate
		case "proxy-revalidate":
			cc.flags |= ccProxyRevalidate
		case "must-understand":
			cc.flags |= ccMustUnderstand
		case "only-if-cached":
			cc.flags |= ccOnlyIfCached
		case "immutable":
			cc.flags |= ccImmutable
		case "max-age":
			cc.setStrict(ccMaxAge, &cc.maxAge, value, hasValue)
		case "s-maxage":
			cc.setStrict(ccSMaxAge, &cc.sMaxAge, value, hasValue)
		case "max-stale":
			if !hasValue {
				cc.flags |= ccMaxStale | ccMaxStaleAny
			} else if d, ok := parseDelta(value); ok {
				cc.setLenient(ccMaxStale, &cc.maxStale, d)
			}
		case "min-fresh":
			if d, ok := parseDelta(value); ok && hasValue {
				cc.setLenient(ccMinFresh, &cc.minFresh, d)
			}
		case "stale-while-revalidate":
			if d, ok := parseDelta(value); ok && hasValue {
				cc.setLenient(ccStaleWhileRevalidate, &cc.swr, d)
			}
		case "stale-if-error":
			if d, ok := parseDelta(value); ok && hasValue {
				cc.setLenient(ccStaleIfError, &cc.sie, d)
			}
		}
	}
}

// setStrict records a freshness directive: an invalid or conflicting value means 0 (stale).
func (cc *cacheControl) setStrict(f ccFlag, dst *int64, value string, hasValue bool) {
	d, ok := parseDelta(value)
	if !ok || !hasValue {
		d = 0
	}
	if cc.flags&f != 0 && *dst != d {
		d = 0
	}
	cc.flags |= f
	*dst = d
}

// setLenient records a directive whose repetition keeps the smallest value.
func (cc *cacheControl) setLenient(f ccFlag, dst *int64, d int64) {
	if cc.flags&f != 0 {
		d = min(d, *dst)
	}
	cc.flags |= f
	*dst = d
}

// nextDirective splits the first directive off s: its name, its value (unquoted) and the rest of
// s after the comma that ends it.
func nextDirective(s string) (name, value string, hasValue bool, rest string) {
	s = trimOWS(s)
	i := 0
	for i < len(s) && s[i] != ',' && s[i] != '=' {
		i++
	}
	if i == len(s) {
		return trimOWS(s), "", false, ""
	}
	if s[i] == ',' {
		return trimOWS(s[:i]), "", false, s[i+1:]
	}
	// No whitespace around "=" in the grammar: "max-age =60" names an unknown directive and
	// "max-age= 60" has an invalid value.
	name = s[:i]
	s = s[i+1:]
	hasValue = true
	if len(s) > 0 && s[0] == '"' {
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				b.WriteByte(s[j])
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		value = b.String()
		s = s[min(j+1, len(s)):]
		k := strings.IndexByte(s, ',')
		if k < 0 {
			return name, value, true, ""
		}
		return name, value, true, s[k+1:]
	}
	k := strings.IndexByte(s, ',')
	if k < 0 {
		return name, trimRightOWS(s), true, ""
	}
	return name, trimRightOWS(s[:k]), true, s[k+1:]
}

// parseDelta parses delta-seconds: one or more digits. Values past 2^31 become 2^31.
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDelta), true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func trimRightOWS(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
