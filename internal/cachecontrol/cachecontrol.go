// Package cachecontrol is the one parser of cache directives in strata: the Cache-Control field of
// HTTP requests and responses (RFC 9111 §5.2, with the RFC 5861 extensions), read by the HTTP
// middleware and by the gRPC interceptors (as cache-control metadata), and the targeted
// cache-control fields of RFC 9213 (CDN-Cache-Control and the like), which are Structured Field
// Dictionaries (RFC 8941) and are parsed as such.
package cachecontrol

import "strings"

// Flag is one boolean directive, or a marker that a directive with an argument was present.
type Flag uint32

// The directives a cache acts on.
const (
	NoStore Flag = 1 << iota
	NoCache
	Private
	Public
	MustRevalidate
	ProxyRevalidate
	MustUnderstand
	OnlyIfCached
	Immutable
	MaxAge
	SMaxAge
	MaxStale
	MaxStaleAny // max-stale without a value: any staleness is acceptable
	MinFresh
	StaleWhileRevalidate
	StaleIfError
)

// MaxDelta is the largest delta-seconds value kept (RFC 9111 §1.2.2): larger values, and values
// that overflow, become 2^31.
const MaxDelta = 1 << 31

// Directives holds the directives of the lines of one field. Durations are in seconds, within
// [0, MaxDelta]; each is meaningful only when its flag is set.
type Directives struct {
	Flags    Flag
	MaxAge   int64
	SMaxAge  int64
	MaxStale int64
	MinFresh int64
	SWR      int64 // stale-while-revalidate
	SIE      int64 // stale-if-error
}

// Has reports whether any of the flags f is set.
func (d *Directives) Has(f Flag) bool { return d.Flags&f != 0 }

// Parse parses the lines of a Cache-Control field. Directive names are case-insensitive,
// arguments may be tokens or quoted strings (a quoted comma does not end a directive), and
// unknown directives are ignored. Duplicates are resolved as RFC 9111 §4.2.1 allows for a
// shared cache: a max-age or s-maxage whose value is invalid, or that is given twice with
// different values, makes the response stale (0); for the request directives and the stale
// windows, the smallest value wins (the most conservative reading).
func Parse(lines []string) Directives {
	var d Directives
	for _, line := range lines {
		d.parseLine(line)
	}
	return d
}

func (d *Directives) parseLine(s string) {
	for len(s) > 0 {
		var name, value string
		var hasValue bool
		name, value, hasValue, s = nextDirective(s)
		if name == "" {
			continue
		}
		switch strings.ToLower(name) {
		case "no-store":
			d.Flags |= NoStore
		case "no-cache":
			d.Flags |= NoCache // a field-name list is treated as unqualified: stricter
		case "private":
			d.Flags |= Private // likewise
		case "public":
			d.Flags |= Public
		case "must-revalidate":
			d.Flags |= MustRevalidate
		case "proxy-revalidate":
			d.Flags |= ProxyRevalidate
		case "must-understand":
			d.Flags |= MustUnderstand
		case "only-if-cached":
			d.Flags |= OnlyIfCached
		case "immutable":
			d.Flags |= Immutable
		case "max-age":
			d.setStrict(MaxAge, &d.MaxAge, value, hasValue)
		case "s-maxage":
			d.setStrict(SMaxAge, &d.SMaxAge, value, hasValue)
		case "max-stale":
			if !hasValue {
				d.Flags |= MaxStale | MaxStaleAny
			} else if v, ok := ParseDelta(value); ok {
				d.setLenient(MaxStale, &d.MaxStale, v)
			}
		case "min-fresh":
			if v, ok := ParseDelta(value); ok && hasValue {
				d.setLenient(MinFresh, &d.MinFresh, v)
			}
		case "stale-while-revalidate":
			if v, ok := ParseDelta(value); ok && hasValue {
				d.setLenient(StaleWhileRevalidate, &d.SWR, v)
			}
		case "stale-if-error":
			if v, ok := ParseDelta(value); ok && hasValue {
				d.setLenient(StaleIfError, &d.SIE, v)
			}
		}
	}
}

// setStrict records a freshness directive: an invalid or conflicting value means 0 (stale).
func (d *Directives) setStrict(f Flag, dst *int64, value string, hasValue bool) {
	v, ok := ParseDelta(value)
	if !ok || !hasValue {
		v = 0
	}
	if d.Flags&f != 0 && *dst != v {
		v = 0
	}
	d.Flags |= f
	*dst = v
}

// setLenient records a directive whose repetition keeps the smallest value.
func (d *Directives) setLenient(f Flag, dst *int64, v int64) {
	if d.Flags&f != 0 {
		v = min(v, *dst)
	}
	d.Flags |= f
	*dst = v
}

// nextDirective splits the first directive off s: its name, its value (unquoted) and the rest of
// s after the comma that ends it.
func nextDirective(s string) (name, value string, hasValue bool, rest string) {
	s = TrimOWS(s)
	i := 0
	for i < len(s) && s[i] != ',' && s[i] != '=' {
		i++
	}
	if i == len(s) {
		return TrimOWS(s), "", false, ""
	}
	if s[i] == ',' {
		return TrimOWS(s[:i]), "", false, s[i+1:]
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
		if j >= len(s) {
			// An unterminated quoted string is no value: it takes the rest of the line.
			return name, `"`, true, ""
		}
		s = s[j+1:]
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

// ParseDelta parses delta-seconds: one or more digits. Values past 2^31 become 2^31.
func ParseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < MaxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, MaxDelta), true
}

// TrimOWS removes optional whitespace (spaces and tabs) around s.
func TrimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return trimRightOWS(s)
}

func trimRightOWS(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
