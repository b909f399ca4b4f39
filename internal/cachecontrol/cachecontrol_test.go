package cachecontrol

import (
	"testing"

	"github.com/dunglas/httpsfv"

	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want Directives
	}{
		{[]string{"max-age=60"}, Directives{Flags: MaxAge, MaxAge: 60}},
		{[]string{"Max-Age=60, PUBLIC"}, Directives{Flags: MaxAge | Public, MaxAge: 60}},
		{[]string{`max-age="60"`}, Directives{Flags: MaxAge, MaxAge: 60}},
		{[]string{"max-age=abc"}, Directives{Flags: MaxAge}},
		{[]string{"max-age=-1"}, Directives{Flags: MaxAge}},
		{[]string{"max-age"}, Directives{Flags: MaxAge}},
		{[]string{"max-age=60", "max-age=60"}, Directives{Flags: MaxAge, MaxAge: 60}},
		{[]string{"max-age=60, max-age=30"}, Directives{Flags: MaxAge}},
		{[]string{"max-age=60", "max-age=30"}, Directives{Flags: MaxAge}},
		{[]string{"max-age=99999999999999999999"}, Directives{Flags: MaxAge, MaxAge: MaxDelta}},
		{[]string{"s-maxage=10, max-age=5"}, Directives{Flags: MaxAge | SMaxAge, MaxAge: 5, SMaxAge: 10}},
		{[]string{`no-cache="Set-Cookie, X-Foo", private`}, Directives{Flags: NoCache | Private}},
		{[]string{`ext="a,b,max-age=1", max-age=60`}, Directives{Flags: MaxAge, MaxAge: 60}},
		{[]string{`ext="a\",no-store", public`}, Directives{Flags: Public}},
		{[]string{"no-store,,  , must-revalidate"}, Directives{Flags: NoStore | MustRevalidate}},
		{[]string{"max-stale"}, Directives{Flags: MaxStale | MaxStaleAny}},
		{[]string{"max-stale=5, min-fresh=3, only-if-cached"}, Directives{Flags: MaxStale | MinFresh | OnlyIfCached, MaxStale: 5, MinFresh: 3}},
		{[]string{"min-fresh=9", "min-fresh=3"}, Directives{Flags: MinFresh, MinFresh: 3}},
		{[]string{"stale-while-revalidate=30, stale-if-error=600"}, Directives{Flags: StaleWhileRevalidate | StaleIfError, SWR: 30, SIE: 600}},
		{[]string{"stale-if-error=x, unknown=\"a,b\", immutable"}, Directives{Flags: Immutable}},
		{[]string{"proxy-revalidate, must-understand, no-store"}, Directives{Flags: ProxyRevalidate | MustUnderstand | NoStore}},
		{[]string{`ext="unterminated`}, Directives{}},
		{[]string{`max-age="60`}, Directives{Flags: MaxAge}},
		{[]string{`public, max-age="60, no-store`}, Directives{Flags: Public | MaxAge}},
		{[]string{"max-age =60"}, Directives{}},
		{[]string{"max-age= 60"}, Directives{Flags: MaxAge}},
		{[]string{"max-age=60 , public"}, Directives{Flags: MaxAge | Public, MaxAge: 60}},
		{nil, Directives{}},
	} {
		if got := Parse(tc.in); got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseTargeted(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want Directives
	}{
		{"max-age=60", true, Directives{Flags: MaxAge, MaxAge: 60}},
		{"max-age=60, private", true, Directives{Flags: MaxAge | Private, MaxAge: 60}},
		{"no-store", true, Directives{Flags: NoStore}},
		{"no-store=?0, max-age=5", true, Directives{Flags: MaxAge, MaxAge: 5}},
		{"no-store=?1", true, Directives{Flags: NoStore}},
		{"max-age=60, max-age=10", true, Directives{Flags: MaxAge, MaxAge: 10}},
		{"max-age=60;a=1, x=\"y\"", true, Directives{Flags: MaxAge, MaxAge: 60}},
		{"max-age=60, foo=(a b c)", true, Directives{Flags: MaxAge, MaxAge: 60}},
		{"max-age=(60)", false, Directives{}},
		{"max-age=1.5", false, Directives{}},
		{`max-age="10000"`, false, Directives{}},
		{"max-age=-1", false, Directives{}},
		{"max-age=10000, &&&&&", false, Directives{}},
		{"Max-Age=60", false, Directives{}},
		{"max-age", false, Directives{}},
		{"max-age=60,", false, Directives{}},
		{"max-age=60 public", false, Directives{}},
		{"no-store=1", false, Directives{}},
		{`no-cache="a"`, true, Directives{Flags: NoCache}},
		{"a=?1, b=:aGk=:, c=tok/en, max-age=3", true, Directives{Flags: MaxAge, MaxAge: 3}},
		{"b=:not base64!:", false, Directives{}},
		{"max-age=1234567890123456", false, Directives{}},
		{"max-age=99999999999", true, Directives{Flags: MaxAge, MaxAge: MaxDelta}},
		{"stale-if-error=5, s-maxage=3", true, Directives{Flags: StaleIfError | SMaxAge, SIE: 5, SMaxAge: 3}},
	} {
		got, ok := ParseTargeted([]string{tc.in})
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: got %+v %v, want %+v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// Lines are members of one Dictionary.
	if got, ok := ParseTargeted([]string{"max-age=5", "private"}); !ok || got != (Directives{Flags: MaxAge | Private, MaxAge: 5}) {
		t.Errorf("two lines: %+v %v", got, ok)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"max-age=60, public", `no-cache="a, b"`, "max-stale", `x="\"`, "s-maxage=1,max-age=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := Parse([]string{s})
		for _, v := range []int64{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh, d.SWR, d.SIE} {
			if v < 0 || v > MaxDelta {
				t.Fatalf("%q: out-of-range value %d", s, v)
			}
		}
		// A line and the same line split at a directive boundary the parser found mean the same.
		if again := Parse([]string{s + ",", ""}); again != d {
			t.Fatalf("%q: trailing comma changed %+v into %+v", s, d, again)
		}
	})
}

// FuzzParseTargeted checks ParseTargeted against httpsfv's own reading of the field: whatever
// httpsfv rejects is ignored, and what it accepts means the same once serialized back by httpsfv
// (canonical form) and parsed again.
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{"max-age=60, private;x=1", "no-store=?0", "max-age=(1 2)", `a="x", s-maxage=9`, "b=:aGk=:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseTargeted([]string{s})
		dict, err := httpsfv.UnmarshalDictionary([]string{s})
		if err != nil {
			if ok {
				t.Fatalf("%q: accepted a field httpsfv rejects (%v)", s, err)
			}
			return
		}
		canon, err := httpsfv.Marshal(dict)
		if err != nil {
			return // a value httpsfv parses but cannot serialize (out of its ranges)
		}
		d2, ok2 := ParseTargeted([]string{canon})
		if ok2 != ok || d2 != d {
			t.Fatalf("%q: %+v %v, but its canonical form %q gives %+v %v", s, d, ok, canon, d2, ok2)
		}
	})
}
