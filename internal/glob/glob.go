// Package glob matches keys against Redis glob patterns with exactly the semantics of Redis's own
// matcher (stringmatchlen in util.c), which SCAN MATCH, KEYS and PSUBSCRIBE use. In-process tiers
// use it so that a pattern invalidation removes the same keys from every tier.
//
// Semantics, byte by byte (no Unicode awareness, as in Redis):
//   - "*" matches any sequence of bytes, including none;
//   - "?" matches exactly one byte;
//   - "[abc]" matches one byte of the set, "[^abc]" one byte not in it;
//   - "[a-z]" matches one byte in the range (a reversed range such as "[z-a]" is the same range);
//   - "\x" matches the byte x literally, outside and inside brackets.
//
// Oddities Redis has and this package keeps: an unterminated "[" class runs to the end of the
// pattern; "]" right after "[" closes an empty class (which never matches; "[^]" matches any
// byte); range ends are compared as signed chars, as Redis does on the platforms it runs on; a
// trailing lone "\" matches a literal backslash; the empty string matches only the empty pattern
// and "*" (the matcher itself would refuse it, but SCAN and KEYS never ask it about "*").
package glob

import (
	"errors"
	"fmt"
)

// Match reports whether s matches the Redis glob pattern.
func Match(pattern, s string) bool {
	if pattern == "*" {
		return true // SCAN and KEYS skip the matcher for "*", so it also matches the empty key
	}
	skip := false
	return match(pattern, s, &skip)
}

// at returns p[i], or 0 past the end (Redis reads the string's terminating NUL there).
func at(p string, i int) byte {
	if i < len(p) {
		return p[i]
	}
	return 0
}

// match follows Redis's stringmatchlen_impl. skip is set once the rest of the pattern after a star
// failed to match anywhere in the remaining string: then no longer match of an earlier star can
// succeed, which keeps the worst case polynomial.
func match(p, s string, skip *bool) bool {
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if match(p[1:], s, skip) {
					return true
				}
				if *skip {
					return false
				}
				s = s[1:]
			}
			*skip = true
			return false
		case '?':
			s, p = s[1:], p[1:]
		case '[':
			q := p[1:]
			not := at(q, 0) == '^'
			if not {
				q = q[1:]
			}
			matched := false
			// The loop leaves i on the closing ']', or on the last byte of an unterminated class
			// (-1 when the class is empty and unterminated), as Redis leaves its pointer.
			i := 0
		class:
			for {
				c := at(q, i)
				switch {
				case c == '\\' && len(q)-i >= 2:
					i++
					if q[i] == s[0] {
						matched = true
					}
				case c == ']':
					break class
				case i >= len(q):
					i--
					break class
				case len(q)-i >= 3 && q[i+1] == '-':
					lo, hi := int(int8(q[i])), int(int8(q[i+2]))
					if lo > hi {
						lo, hi = hi, lo
					}
					b := int(int8(s[0]))
					i += 2
					if b >= lo && b <= hi {
						matched = true
					}
				default:
					if c == s[0] {
						matched = true
					}
				}
				i++
			}
			if not {
				matched = !matched
			}
			if !matched {
				return false
			}
			s, p = s[1:], q[i+1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s, p = s[1:], p[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// Escape returns a pattern that matches exactly s: every byte with a meaning in a pattern
// (* ? [ ] \) is preceded by a backslash. Prefixing a pattern with Escape(namespace) confines it
// to the namespace.
func Escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if special(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+n)
	for i := 0; i < len(s); i++ {
		if special(s[i]) {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

func special(c byte) bool {
	switch c {
	case '*', '?', '[', ']', '\\':
		return true
	}
	return false
}

// HasMeta reports whether pattern contains any byte with a meaning in a pattern, that is whether
// it can match more than one string.
func HasMeta(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}

// ErrUnterminatedClass is returned by Validate for a pattern with a "[" that no "]" closes.
var ErrUnterminatedClass = errors.New(`glob: unterminated "[" class`)

// Validate reports patterns whose meaning is an accident of Redis's matcher rather than what the
// writer can have meant: a "[" class that no "]" closes (Redis lets it run to the end of the
// pattern, so "user:[1" matches nothing that starts with "user:[1"). Escaped brackets ("\[")
// are literal and fine.
func Validate(pattern string) error {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case '[':
			j := i + 1
			if j < len(pattern) && pattern[j] == '^' {
				j++
			}
			closed := false
			for ; j < len(pattern); j++ {
				if pattern[j] == '\\' {
					j++
					continue
				}
				if pattern[j] == ']' {
					closed = true
					break
				}
			}
			if !closed {
				return fmt.Errorf("%w at byte %d of %q", ErrUnterminatedClass, i, pattern)
			}
			i = j
		}
	}
	return nil
}
