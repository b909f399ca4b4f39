package cachecontrol

import (
	"github.com/dunglas/httpsfv"
)

// ParseTargeted parses the lines of a targeted cache-control field (RFC 9213), a Structured Field
// Dictionary (RFC 8941 §3.2). ok is false when the field must be ignored: it is not a valid
// Dictionary, or a directive this package knows carries a value of the wrong type (a freshness
// directive that is not a non-negative Integer, a flag that is not a Boolean). As a Dictionary,
// a repeated directive takes its last value, and parameters are ignored; members this package
// does not know, whatever their type (inner lists included), are ignored too. A Boolean false
// (no-store=?0) leaves its directive off.
func ParseTargeted(lines []string) (d Directives, ok bool) {
	dict, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return Directives{}, false
	}
	for _, name := range dict.Names() {
		m, _ := dict.Get(name)
		var f Flag
		var dst *int64
		switch name {
		case "no-store":
			f = NoStore
		case "no-cache":
			f = NoCache
		case "private":
			f = Private
		case "public":
			f = Public
		case "must-revalidate":
			f = MustRevalidate
		case "proxy-revalidate":
			f = ProxyRevalidate
		case "must-understand":
			f = MustUnderstand
		case "immutable":
			f = Immutable
		case "max-age":
			f, dst = MaxAge, &d.MaxAge
		case "s-maxage":
			f, dst = SMaxAge, &d.SMaxAge
		case "stale-while-revalidate":
			f, dst = StaleWhileRevalidate, &d.SWR
		case "stale-if-error":
			f, dst = StaleIfError, &d.SIE
		default:
			continue
		}
		it, isItem := m.(httpsfv.Item)
		if !isItem {
			return Directives{}, false
		}
		if dst != nil {
			n, isInt := it.Value.(int64)
			if !isInt || n < 0 {
				return Directives{}, false
			}
			*dst = min(n, MaxDelta)
			d.Flags |= f
			continue
		}
		switch v := it.Value.(type) {
		case bool:
			if v {
				d.Flags |= f
			}
		case string:
			// no-cache="field" and private="field" qualify the directive in Cache-Control; a
			// qualified directive is treated as unqualified (stricter).
			if f != NoCache && f != Private {
				return Directives{}, false
			}
			d.Flags |= f
		default:
			return Directives{}, false
		}
	}
	return d, true
}
