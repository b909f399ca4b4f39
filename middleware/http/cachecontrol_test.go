package httpcache

import (
	"net/http"
	"testing"
)

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want cacheControl
	}{
		{[]string{"max-age=60"}, cacheControl{flags: ccMaxAge, maxAge: 60}},
		{[]string{"Max-Age=60, PUBLIC"}, cacheControl{flags: ccMaxAge | ccPublic, maxAge: 60}},
		{[]string{`max-age="60"`}, cacheControl{flags: ccMaxAge, maxAge: 60}},
		{[]string{"max-age=abc"}, cacheControl{flags: ccMaxAge}},
		{[]string{"max-age=-1"}, cacheControl{flags: ccMaxAge}},
		{[]string{"max-age"}, cacheControl{flags: ccMaxAge}},
		{[]string{"max-age=60", "max-age=60"}, cacheControl{flags: ccMaxAge, maxAge: 60}},
		{[]string{"max-age=60, max-age=30"}, cacheControl{flags: ccMaxAge}},
		{[]string{"max-age=99999999999999999999"}, cacheControl{flags: ccMaxAge, maxAge: maxDelta}},
		{[]string{"s-maxage=10, max-age=5"}, cacheControl{flags: ccMaxAge | ccSMaxAge, maxAge: 5, sMaxAge: 10}},
		{[]string{`no-cache="Set-Cookie, X-Foo", private`}, cacheControl{flags: ccNoCache | ccPrivate}},
		{[]string{"no-store,,  , must-revalidate"}, cacheControl{flags: ccNoStore | ccMustRevalidate}},
		{[]string{"max-stale"}, cacheControl{flags: ccMaxStale | ccMaxStaleAny}},
		{[]string{"max-stale=5, min-fresh=3, only-if-cached"}, cacheControl{flags: ccMaxStale | ccMinFresh | ccOnlyIfCached, maxStale: 5, minFresh: 3}},
		{[]string{"stale-while-revalidate=30, stale-if-error=600"}, cacheControl{flags: ccStaleWhileRevalidate | ccStaleIfError, swr: 30, sie: 600}},
		{[]string{"stale-if-error=x, unknown=\"a,b\", immutable"}, cacheControl{flags: ccImmutable}},
		{[]string{"proxy-revalidate, must-understand, no-store"}, cacheControl{flags: ccProxyRevalidate | ccMustUnderstand | ccNoStore}},
		{[]string{`ext="unterminated`}, cacheControl{}},
		{[]string{"max-age =60"}, cacheControl{}},
		{[]string{"max-age= 60"}, cacheControl{flags: ccMaxAge}},
		{[]string{"max-age=60 , public"}, cacheControl{flags: ccMaxAge | ccPublic, maxAge: 60}},
	} {
		got := parseCacheControl(http.Header{"Cache-Control": tc.in})
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60, public", `no-cache="a, b"`, "max-stale", `x="\"`, "s-maxage=1,max-age=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := parseCacheControl(http.Header{"Cache-Control": {s}})
		for _, d := range []int64{cc.maxAge, cc.sMaxAge, cc.maxStale, cc.minFresh, cc.swr, cc.sie} {
			if d < 0 || d > maxDelta {
				t.Fatalf("%q: out-of-range value %d", s, d)
			}
		}
	})
}
