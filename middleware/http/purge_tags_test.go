package httpcache_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stratacache/strata/internal/httpcachetest"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
)

var _ httpcache.Invalidator = (*tiered.Cache)(nil)

// testTagAndPatternPurge purges by surrogate key and by URL pattern through the tiered cache's
// own invalidation (every tier, every instance on the bus).
func testTagAndPatternPurge(t *testing.T, env *httpcachetest.Env, h, ph http.Handler) {
	urls := map[string]string{
		"http://example.com/cat/1": "product-1",
		"http://example.com/cat/2": "product-2",
		"http://example.com/doc/1": "product-1",
		"http://example.com/doc/2": "docs",
	}
	tagged := httpcachetest.Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", urls["http://example.com"+r.URL.Path]+" all")
		w.Write([]byte("x"))
	}}
	th := env.Handler(t, httpcache.Route{}, &tagged)
	warm := func() {
		for u := range urls {
			httpcachetest.Do(th, "GET", u)
			if !httpcachetest.Hit(httpcachetest.Do(th, "GET", u)) {
				t.Fatalf("%s not stored", u)
			}
		}
	}
	check := func(what string, gone ...string) {
		t.Helper()
		for u := range urls {
			want := !contains(gone, u)
			if got := httpcachetest.Hit(httpcachetest.Do(th, "GET", u)); got != want {
				t.Errorf("%s: %s hit = %v, want %v", what, u, got, want)
			}
		}
	}
	warm()
	if w := purge(ph, "s3cret", url.Values{"tag": {"product-1"}}); w.Code != http.StatusNoContent {
		t.Fatalf("tag purge: %d %s", w.Code, w.Body)
	}
	check("tag", "http://example.com/cat/1", "http://example.com/doc/1")
	warm()
	if w := purge(ph, "s3cret", url.Values{"pattern": {"http://example.com/cat/*"}}); w.Code != http.StatusNoContent {
		t.Fatalf("pattern purge: %d %s", w.Code, w.Body)
	}
	check("pattern", "http://example.com/cat/1", "http://example.com/cat/2")
	warm()
	env.ClearL1(t) // entries now come back from Redis, where the tag index lives
	if w := purge(ph, "s3cret", url.Values{"tag": {"all"}}); w.Code != http.StatusNoContent {
		t.Fatalf("tag purge: %d %s", w.Code, w.Body)
	}
	check("all", "http://example.com/cat/1", "http://example.com/cat/2", "http://example.com/doc/1", "http://example.com/doc/2")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
