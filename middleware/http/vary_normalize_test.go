package httpcache

import "testing"

func TestNormalizeValue(t *testing.T) {
	same := func(name string, a, b []string) {
		t.Helper()
		if x, y := normalizeValue(name, a), normalizeValue(name, b); x != y {
			t.Errorf("%s: %q and %q normalise to %q and %q, want equal", name, a, b, x, y)
		}
	}
	differ := func(name string, a, b []string) {
		t.Helper()
		if x := normalizeValue(name, a); x == normalizeValue(name, b) {
			t.Errorf("%s: %q and %q both normalise to %q, want different", name, a, b, x)
		}
	}
	l := func(vs ...string) []string { return vs }
	// Combined lines, list whitespace, empty members.
	same("Foo", l("1, 2"), l("1", "2"))
	same("Foo", l("1,2"), l(" 1 ,  2 "))
	same("Foo", l("1,,2"), l("1, 2"))
	// Quoted strings and comments are not split, and their whitespace counts.
	differ("Foo", l(`a, "b,c"`), l(`a, "b, c"`))
	differ("User-Agent", l("Mozilla/5.0 (X11, Linux)"), l("Mozilla/5.0 (X11,Linux)"))
	same("Foo", l(`a, "b,c"`), l(`a,"b,c"`))
	same("Foo", l(`"a\",b", c`), l(`"a\",b",c`))
	// Case and order count for fields not known to be case-insensitive sets.
	differ("Foo", l("A"), l("a"))
	differ("Foo", l("1, 2"), l("2, 1"))
	differ("Accept", l("text/html, application/json"), l("application/json, text/html"))
	// Weighted token lists: case, order, whitespace and the spelling of weights do not count.
	same("Accept-Language", l("en, de"), l("de, en"))
	same("Accept-Language", l("en, de"), l("eN, De"))
	same("Accept-Language", l("en, de"), l(" en ,   de"))
	same("Accept-Language", l("en", "de"), l("de,en"))
	same("Accept-Language", l("de;q=1.0, fr;q=0.5"), l("fr ; q=0.500, de"))
	same("Accept-Language", l("en;q=0"), l("EN;Q=0.000"))
	same("Accept-Encoding", l("gzip, br"), l("br,gzip"))
	same("Accept-Language", l("EN"), l("en"))
	// ... but weights do.
	differ("Accept-Language", l("en, de"), l("en, de;q=0.9"))
	differ("Accept-Language", l("en;q=0.5"), l("en;q=0.05"))
	differ("Accept-Language", l("en;q=0"), l("en"))
	differ("Accept-Language", l("en, de"), l("en"))
	differ("Accept-Encoding", l("gzip;q=2"), l("gzip"))
}

func TestParseQValue(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "1": 1000, "1.000": 1000, "0.5": 500, "0.05": 50, "0.123": 123, "0.": 0, "1.": 1000} {
		if got, ok := parseQValue(in); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2", "1.5", "0.1234", "x", "0.a", ".5", "-0"} {
		if _, ok := parseQValue(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzNormalizeValue(f *testing.F) {
	f.Add("Accept-Language", "en-US,en;q=0.9, de ; q=0.500")
	f.Add("Foo", `a, "b,\"c", (x, y) z`)
	f.Fuzz(func(t *testing.T, name, v string) {
		n := normalizeValue(name, []string{v})
		// Normalising is idempotent: a normalised value is its own normal form.
		if again := normalizeValue(name, []string{n}); again != n {
			t.Fatalf("%s %q: %q, then %q", name, v, n, again)
		}
	})
}

func TestPreferredLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"de":                     "de",
		"fr;q=0.5, de;q=1.0":     "de",
		"en-US, en;q=0.9":        "en-us",
		"en, de":                 "", // a tie
		"de;q=0.5, *;q=0.1":      "", // a wildcard
		"de;q=0":                 "",
		"de;q=2":                 "",
		"de;x=1":                 "",
		"":                       "",
		"en;q=0.9, DE-ch;q=0.95": "de-ch",
	} {
		if got := preferredLanguage([]string{in}); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
