package httpcache_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
)

// The middleware in front of a handler that says how long its response is fresh.
func ExampleCache_Middleware() {
	c, err := httpcache.New(httpcache.Options{}) // in-process; pass Options.Cache for L1 + Redis
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprint(w, "hello")
	}))
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/", nil))
		fmt.Println(w.Body.String(), "|", w.Header().Get("Cache-Status"))
	}
	// Output:
	// hello | strata; fwd=uri-miss; fwd-status=200; stored
	// hello | strata; hit; ttl=60
}

// A route whose handler sets no freshness opts into a default TTL with a strategy.
func ExampleCache_RouteMiddleware() {
	tc, err := tiered.New(tiered.Options{}) // or redistier.NewCache(rdb, ...) for an L1 over Redis
	if err != nil {
		panic(err)
	}
	defer tc.Close()
	c, err := httpcache.New(httpcache.Options{Cache: tc})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	catalogue, err := c.RouteMiddleware(httpcache.Route{Strategy: tiered.MediumTerm.WithStale(time.Minute)})
	if err != nil {
		panic(err)
	}
	h := catalogue(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "catalogue")
	}))
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/catalogue", nil))
		fmt.Println(w.Header().Get("Cache-Status"))
	}
	// Output:
	// strata; fwd=uri-miss; fwd-status=200; stored
	// strata; hit; ttl=3600
}

// The purge handler is mounted by the application, behind its own authentication.
func ExampleCache_PurgeHandler() {
	c, err := httpcache.New(httpcache.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	purge, err := c.PurgeHandler(httpcache.PurgeOptions{
		Authorize: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer admin-token" },
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /_cache/purge", purge)
	r := httptest.NewRequest("POST", "http://example.com/_cache/purge?url=http://example.com/", nil)
	r.Header.Set("Authorization", "Bearer admin-token")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output: 204
}
