package httpcache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Vary normalisation (RFC 9111 §4.1). Two requests select the same stored variant when their
// Vary'd headers are equal after transformations that cannot change what an origin following
// the fields' definitions would send:
//
//   - Combining field lines: several lines of a header equal one line of their values joined by
//     commas (RFC 9110 §5.3).
//   - List syntax (RFC 9110 §5.6.1): whitespace around the commas that separate members, and
//     empty members, do not count. A comma inside a quoted string or a parenthesised comment
//     (User-Agent's "(X11, Linux)") separates nothing, and whitespace there is kept.
//   - Weighted preference lists whose members are case-insensitive tokens — Accept-Language
//     (language ranges), Accept-Encoding (content codings), Accept-Charset (charsets): members
//     compare without regard to case, whitespace around ";" and "=" does not count, equal
//     weights are equal ("q=1", "q=1.000" and no weight at all), and the members are compared as
//     a set. RFC 9110 §12.4.2 expresses preference by weight, not by position: an origin that
//     breaks a tie between equally weighted members by their order is beyond what the field
//     says, and two such requests share a variant.
//
// Anything else is compared as sent. Only with Options.NegotiateLanguage is a request matched
// against a stored response's content: see languageKey.

// weightedTokenList are the request headers normalised as sets of weighted, case-insensitive
// members.
var weightedTokenList = map[string]bool{"Accept-Language": true, "Accept-Encoding": true, "Accept-Charset": true}

// normalizeValue returns the normalised value of the lines vs of the request header name.
func normalizeValue(name string, vs []string) string {
	if len(vs) == 1 && plainValue(vs[0]) {
		v := trimOWS(vs[0])
		if weightedTokenList[name] {
			v = strings.ToLower(v)
		}
		return v
	}
	var members []string
	for _, v := range vs {
		members = splitMembers(members, v)
	}
	if weightedTokenList[name] {
		for i, m := range members {
			members[i] = normalizeWeighted(m)
		}
		slices.Sort(members)
	}
	return strings.Join(members, ",")
}

// plainValue reports a value with nothing to normalise but surrounding whitespace and, for a
// weighted token list, case: one member without parameters, quotes or comments.
func plainValue(v string) bool {
	return !strings.ContainsAny(v, `,;"(`)
}

// splitMembers appends the members of the list value v to dst: split at the commas outside quoted
// strings and comments, with surrounding whitespace removed and empty members dropped.
func splitMembers(dst []string, v string) []string {
	start, depth, quoted := 0, 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ',' && depth == 0:
			if m := trimOWS(v[start:i]); m != "" {
				dst = append(dst, m)
			}
			start = i + 1
		}
	}
	if m := trimOWS(v[start:]); m != "" {
		dst = append(dst, m)
	}
	return dst
}

// normalizeWeighted normalises one member of a weighted token list: lower case, no whitespace
// around ";" and "=", and its weight in canonical form ("q=1" dropped, "q=0.500" as "q=0.5"). A
// member whose weight is not a valid qvalue is kept as it is (lower-cased).
func normalizeWeighted(m string) string {
	m = strings.ToLower(m)
	if !strings.Contains(m, ";") {
		return m
	}
	parts := strings.Split(m, ";")
	out := make([]string, 0, len(parts))
	out = append(out, trimOWS(parts[0]))
	for _, p := range parts[1:] {
		k, v, hasV := strings.Cut(p, "=")
		k, v = trimOWS(k), trimOWS(v)
		if k == "q" && hasV {
			q, ok := parseQValue(v)
			if !ok {
				return m
			}
			if q == 1000 {
				continue
			}
			v = "0." + strings.TrimRight(strconv.Itoa(1000 + q)[1:], "0")
			if q == 0 {
				v = "0"
			}
		}
		if hasV {
			out = append(out, k+"="+v)
		} else {
			out = append(out, k)
		}
	}
	return strings.Join(out, ";")
}

// parseQValue parses a qvalue (RFC 9110 §12.4.2: "0" to "1", at most three decimals) into
// thousandths.
func parseQValue(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0]-'0') * 1000
	rest := s[1:]
	if rest == "" {
		return whole, true
	}
	if rest[0] != '.' || len(rest) > 4 {
		return 0, false
	}
	frac := 0
	for i, scale := 1, 100; i < len(rest); i, scale = i+1, scale/10 {
		c := rest[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		frac += int(c-'0') * scale
	}
	if whole == 1000 && frac != 0 {
		return 0, false
	}
	return whole + frac, true
}

// languageKey is the key under which a variant of the URL stored at skey is also found by its
// Content-Language tag (lower-cased), for Options.NegotiateLanguage. Its hashed value starts with
// a byte varyValues never starts with, so it cannot collide with a variant key.
func languageKey(skey, tag string) string {
	return variantKey(skey, "\x02"+tag)
}

// contentLanguage returns the language tag of a response that carries exactly one, lower-cased,
// or "".
func contentLanguage(h http.Header) string {
	vs := h["Content-Language"]
	if len(vs) != 1 {
		return ""
	}
	tag := trimOWS(vs[0])
	if !languageTag(tag) {
		return ""
	}
	return strings.ToLower(tag)
}

// languageTag reports a plausible language tag: alphanumeric subtags of 1 to 8 characters joined
// by hyphens, the first alphabetic.
func languageTag(s string) bool {
	if s == "" {
		return false
	}
	for i, sub := range strings.Split(s, "-") {
		if len(sub) == 0 || len(sub) > 8 {
			return false
		}
		for j := 0; j < len(sub); j++ {
			c := sub[j] | 0x20
			if !(c >= 'a' && c <= 'z' || i > 0 && sub[j] >= '0' && sub[j] <= '9') {
				return false
			}
		}
	}
	return true
}

// preferredLanguage returns the language range the Accept-Language lines vs strictly prefer,
// lower-cased: the only member with the highest weight, which must be above zero. It returns ""
// when there is none (a tie, a "*" anywhere, an invalid member).
func preferredLanguage(vs []string) string {
	var members []string
	for _, v := range vs {
		members = splitMembers(members, v)
	}
	best, bestQ, tie := "", -1, false
	for _, m := range members {
		tag, params, _ := strings.Cut(m, ";")
		tag = trimOWS(tag)
		if !languageTag(tag) {
			return "" // "*" or something that is not a language range
		}
		q := 1000
		if params != "" {
			k, v, ok := strings.Cut(params, "=")
			if !ok || !strings.EqualFold(trimOWS(k), "q") {
				return ""
			}
			var valid bool
			if q, valid = parseQValue(trimOWS(v)); !valid {
				return ""
			}
		}
		switch {
		case q > bestQ:
			best, bestQ, tie = strings.ToLower(tag), q, false
		case q == bestQ:
			tie = true
		}
	}
	if tie || bestQ <= 0 {
		return ""
	}
	return best
}
