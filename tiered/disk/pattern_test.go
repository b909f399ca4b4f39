package disktier

import (
	"strings"
	"testing"

	"github.com/stratacache/strata/internal/glob"
)

// Every key a pattern matches starts with the pattern's literal prefix: DeletePattern reads only
// those keys.
func FuzzLiteralPrefix(f *testing.F) {
	for _, seed := range [][2]string{
		{"app:user:*", "app:user:42"},
		{`app\*:*`, "app*:x"},
		{`a\`, `a\`},
		{"[ab]c", "bc"},
		{"?x", "yx"},
		{`ns\[1\]:k*`, "ns[1]:key"},
		{"*", ""},
		{"exact", "exact"},
		{`\\x*`, `\x1`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, key string) {
		if glob.Match(pattern, key) && !strings.HasPrefix(key, string(literalPrefix(pattern))) {
			t.Fatalf("%q matches %q, which lacks the literal prefix %q", pattern, key, literalPrefix(pattern))
		}
		// A pattern made of an escaped key matches that key, and its prefix is the whole key.
		if p := glob.Escape(key); string(literalPrefix(p)) != key {
			t.Fatalf("literal prefix of %q is %q, want %q", p, literalPrefix(p), key)
		}
	})
}
