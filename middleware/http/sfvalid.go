package httpcache

import "strings"

// validTargetedField reports whether the lines of a targeted cache-control field (RFC 9213) form
// a valid Structured Field Dictionary (RFC 8941 §3.2) whose freshness directives are
// non-negative integers. An invalid field is ignored, as RFC 9213 requires.
func validTargetedField(lines []string) bool {
	for _, line := range lines {
		s := trimOWS(line)
		for s != "" {
			var ok bool
			var key string
			if key, s, ok = sfKey(s); !ok {
				return false
			}
			kind := byte('?') // boolean true when no value
			if strings.HasPrefix(s, "=") {
				if kind, s, ok = sfBareItem(s[1:]); !ok {
					return false
				}
			}
			for strings.HasPrefix(s, ";") {
				var pk string
				if pk, s, ok = sfKey(strings.TrimLeft(s[1:], " ")); !ok || pk == "" {
					return false
				}
				if strings.HasPrefix(s, "=") {
					if _, s, ok = sfBareItem(s[1:]); !ok {
						return false
					}
				}
			}
			switch key {
			case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
				if kind != 'i' {
					return false
				}
			}
			s = trimOWS(s)
			if s == "" {
				break
			}
			if s[0] != ',' {
				return false
			}
			s = trimOWS(s[1:])
			if s == "" {
				return false // trailing comma
			}
		}
	}
	return true
}

// sfKey reads a key: lcalpha or "*", then lcalpha, digits, "_", "-", ".", "*".
func sfKey(s string) (key, rest string, ok bool) {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '*') {
		return "", s, false
	}
	i := 1
	for i < len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*' {
			i++
			continue
		}
		break
	}
	return s[:i], s[i:], true
}

// sfBareItem reads a bare item and reports its kind: 'i' integer, 'd' decimal, 's' string,
// 't' token, 'b' byte sequence, '?' boolean.
func sfBareItem(s string) (kind byte, rest string, ok bool) {
	if s == "" {
		return 0, s, false
	}
	switch c := s[0]; {
	case c == '-' || c >= '0' && c <= '9':
		i := 0
		if c == '-' {
			i = 1
		}
		start, dot := i, -1
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' && dot < 0) {
			if s[i] == '.' {
				dot = i
			}
			i++
		}
		digits := i - start
		if digits == 0 || (dot < 0 && digits > 15) || (dot >= 0 && (dot-start > 12 || i-dot-1 < 1 || i-dot-1 > 3)) {
			return 0, s, false
		}
		if dot >= 0 {
			return 'd', s[i:], true
		}
		return 'i', s[i:], true
	case c == '"':
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 >= len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
					return 0, s, false
				}
				i++
			case '"':
				return 's', s[i+1:], true
			default:
				if s[i] < 0x20 || s[i] >= 0x7f {
					return 0, s, false
				}
			}
		}
		return 0, s, false
	case c == ':':
		end := strings.IndexByte(s[1:], ':')
		if end < 0 {
			return 0, s, false
		}
		return 'b', s[end+2:], true
	case c == '?':
		if len(s) >= 2 && (s[1] == '0' || s[1] == '1') {
			return '?', s[2:], true
		}
		return 0, s, false
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		i := 1
		for i < len(s) && strings.IndexByte("!#$%&'*+-.^_`|~:/", s[i]) >= 0 || i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
			i++
		}
		return 't', s[i:], true
	}
	return 0, s, false
}
