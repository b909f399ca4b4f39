package glob_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stratacache/strata/internal/glob"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMatchTable(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "a", true},
		{"a*b", "axxb", true},
		{"a*b", "axxbc", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"user:[0-9]*", "user:7:name", true},
		{"user:[0-9]*", "user:x", false},
		{"[^a]", "b", true},
		{"[^a]", "a", false},
		{"[z-a]", "m", true},
		{"[]", "]", false},
		{"[^]", "x", true},
		{"[abc", "b", true},
		{"[abc", "bc", false},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a\\", "a\\", true},
		{"[\\]]", "]", true},
		{"[a\\-z]", "-", true},
		{"[a\\-z]", "m", false},
		{"**a**", "xa", true},
		{"*a*a*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60), false},
	}
	for _, c := range cases {
		if got := glob.Match(c.p, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, s := range []string{"", "plain", "a*b?c[d]e\\f", "ns:{x}:", "^-"} {
		p := glob.Escape(s)
		if !glob.Match(p, s) {
			t.Errorf("Escape(%q) = %q does not match itself", s, p)
		}
		if glob.Match(p, s+"x") || (s != "" && glob.Match(p, s[:len(s)-1])) {
			t.Errorf("Escape(%q) = %q matches more than the string", s, p)
		}
		if !glob.Match(p+"*", s+"tail") {
			t.Errorf("Escape(%q)+* does not match a longer key", s)
		}
	}
	if glob.HasMeta("user:1") || !glob.HasMeta("user:*") || !glob.HasMeta("a\\b") {
		t.Error("HasMeta is wrong")
	}
}

// alphabet mixes ordinary bytes, every byte with a meaning in a pattern and bytes above 0x7f
// (whose signedness matters in ranges).
var alphabet = []string{"a", "b", "z", "A", "0", "9", "-", "^", "]", "[", "\\", "*", "?", ":", "\x80", "\xff", "\x7f"}

func randString(r *rand.Rand, maxLen int) string {
	n := r.IntN(maxLen + 1)
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// TestMatchAgainstRedis uses a real redis-server as the oracle: for every generated pattern,
// SCAN MATCH over a keyspace of generated keys must return exactly the keys Match accepts.
func TestMatchAgainstRedis(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))

	keys := map[string]bool{"": true}
	for len(keys) < 600 {
		keys[randString(r, 6)] = true
	}
	var pairs []any
	for k := range keys {
		pairs = append(pairs, k, "1")
	}
	if err := rdb.MSet(ctx, pairs...).Err(); err != nil {
		t.Fatal(err)
	}
	patterns := []string{"*", "[", "[^", "\\", "[\\", "[a-", "[-a]", "[a-]", "[]a]", "[^]a]", "*[", "?*", "[\xff-\x80]", "[\x80-a]", "[a-\xff]"}
	for len(patterns) < 2000 {
		// go-redis drops an empty MATCH argument, so the empty pattern is covered by the table.
		if p := randString(r, 7); p != "" {
			patterns = append(patterns, p)
		}
	}
	const batch = 200
	for i := 0; i < len(patterns); i += batch {
		ps := patterns[i:min(i+batch, len(patterns))]
		cmds := make([]*redis.ScanCmd, len(ps))
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, pat := range ps {
				cmds[j] = p.Scan(ctx, 0, pat, 100_000)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for j, pat := range ps {
			got, cursor := cmds[j].Val()
			for cursor != 0 { // rare: the table was being rehashed
				var more []string
				more, cursor, err = rdb.Scan(ctx, cursor, pat, 100_000).Result()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, more...)
			}
			slices.Sort(got)
			got = slices.Compact(got)
			var want []string
			for k := range keys {
				if glob.Match(pat, k) {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("pattern %q: redis matched %d keys %s, Match matched %d %s", pat, len(got), sample(got), len(want), sample(want))
			}
		}
	}
}

func sample(ks []string) string {
	if len(ks) > 8 {
		return fmt.Sprintf("%q...", ks[:8])
	}
	return fmt.Sprintf("%q", ks)
}

// naive is the matcher without the early exit, written independently from Redis's description:
// exponential in the worst case, but the reference the early exit must agree with.
func naive(p, s string) bool {
	if p == "*" {
		return true
	}
	if s == "" {
		return p == "" // Redis's matcher never matches an empty string against a non-empty pattern
	}
	return naiveRest(p, s)
}

// next continues after one byte of s was consumed: an exhausted string matches only stars.
func next(p, s string) bool {
	if s == "" {
		return strings.Trim(p, "*") == ""
	}
	return naiveRest(p, s)
}

// naiveRest matches a non-empty s.
func naiveRest(p, s string) bool {
	if len(p) == 0 {
		return false
	}
	switch p[0] {
	case '*':
		rest := strings.TrimLeft(p, "*")
		if rest == "" {
			return true
		}
		for i := 0; i < len(s); i++ {
			if naiveRest(rest, s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return next(p[1:], s[1:])
	case '\\':
		if len(p) >= 2 {
			p = p[1:]
		}
		return p[0] == s[0] && next(p[1:], s[1:])
	case '[':
		q := p[1:]
		not := len(q) > 0 && q[0] == '^'
		if not {
			q = q[1:]
		}
		m := false
		i := 0
		for {
			if i < len(q) && q[i] == '\\' && len(q)-i >= 2 {
				i++
				m = m || q[i] == s[0]
			} else if i < len(q) && q[i] == ']' {
				break
			} else if i >= len(q) {
				i--
				break
			} else if len(q)-i >= 3 && q[i+1] == '-' {
				lo, hi := int8(q[i]), int8(q[i+2])
				if lo > hi {
					lo, hi = hi, lo
				}
				m = m || (int8(s[0]) >= lo && int8(s[0]) <= hi)
				i += 2
			} else {
				m = m || q[i] == s[0]
			}
			i++
		}
		if m == not {
			return false
		}
		return next(q[i+1:], s[1:])
	}
	return p[0] == s[0] && next(p[1:], s[1:])
}

func FuzzMatch(f *testing.F) {
	for _, in := range [][2]string{{"*", "x"}, {"a[b-d]?\\*", "ac.*"}, {"[^", "q"}, {"*a*b", "aab"}, {"[\\", "\\"}} {
		f.Add(in[0], in[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 16 || len(s) > 16 || strings.Count(p, "*") > 4 {
			t.Skip() // keep the exponential reference cheap
		}
		got := glob.Match(p, s)
		if want := naive(p, s); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", p, s, got, want)
		}
		if !glob.Match(glob.Escape(s), s) {
			t.Fatalf("Escape(%q) does not match itself", s)
		}
	})
}

func TestValidate(t *testing.T) {
	for _, p := range []string{"*", "user:*", "a[bc]d", "a[^bc]", "[]", "[^]x]", `a\[b`, `[\]]`, `trailing\`, "x?y"} {
		if err := glob.Validate(p); err != nil {
			t.Errorf("Validate(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"user:[1", "[", "a[^", `a[\]`, "ok[a]then[b"} {
		if err := glob.Validate(p); !errors.Is(err, glob.ErrUnterminatedClass) {
			t.Errorf("Validate(%q) = %v, want ErrUnterminatedClass", p, err)
		}
	}
}
