package httpcache_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stratacache/strata/internal/httpcachetest"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
)

func TestPurgeHandlerRequiresAuthorize(t *testing.T) {
	c, err := httpcache.New(httpcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.PurgeHandler(httpcache.PurgeOptions{}); !errors.Is(err, httpcache.ErrInvalidOptions) {
		t.Fatalf("err = %v", err)
	}
}

func purge(h http.Handler, token string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "http://example.com/_purge", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPurgeByURL(t *testing.T) {
	httpcachetest.Stores(t, httpcachetest.NetHTTP, httpcache.Options{}, func(t *testing.T, env *httpcachetest.Env) {
		origin := &httpcachetest.Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "Accept")
			w.Header().Set("Surrogate-Key", "product-1 catalogue")
			fmt.Fprintf(w, "v%d", n)
		}}
		h := env.Handler(t, httpcache.Route{}, origin)
		ph, err := env.Cache.PurgeHandler(httpcache.PurgeOptions{Authorize: func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer s3cret"
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"text/html", "application/json"} {
			httpcachetest.Do(h, "GET", "http://Example.com:80/p/1?x=1", "Accept", a)
			if !httpcachetest.Hit(httpcachetest.Do(h, "GET", "http://example.com/p/1?x=1", "Accept", a)) {
				t.Fatal("not stored")
			}
		}
		form := url.Values{"url": {"http://EXAMPLE.com/p/1?x=1"}}
		if w := purge(ph, "", form); w.Code != http.StatusForbidden {
			t.Fatalf("unauthenticated purge: %d", w.Code)
		}
		if w := purge(ph, "wrong", form); w.Code != http.StatusForbidden {
			t.Fatalf("bad token: %d", w.Code)
		}
		if !httpcachetest.Hit(httpcachetest.Do(h, "GET", "http://example.com/p/1?x=1", "Accept", "text/html")) {
			t.Fatal("refused purge removed the entry")
		}
		if w := purge(ph, "s3cret", form); w.Code != http.StatusNoContent {
			t.Fatalf("purge: %d %s", w.Code, w.Body)
		}
		for _, a := range []string{"text/html", "application/json"} {
			if httpcachetest.Hit(httpcachetest.Do(h, "GET", "http://example.com/p/1?x=1", "Accept", a)) {
				t.Fatalf("variant %s survived the purge", a)
			}
		}
		if w := purge(ph, "s3cret", url.Values{"url": {"/relative"}}); w.Code != http.StatusBadRequest {
			t.Fatalf("relative url: %d", w.Code)
		}
		if w := purge(ph, "s3cret", url.Values{}); w.Code != http.StatusBadRequest {
			t.Fatalf("empty purge: %d", w.Code)
		}
		if w := httpcachetest.Do(ph, "GET", "http://example.com/_purge?url=x"); w.Code != http.StatusMethodNotAllowed {
			t.Fatalf("GET purge: %d", w.Code)
		}
		testTagAndPatternPurge(t, env, h, ph)
	})
}

func TestNewValidates(t *testing.T) {
	for _, o := range []httpcache.Options{{MaxBodySize: -1}, {MaxVariants: -1}, {Name: "bad name"}, {RevalidateTimeout: -1}} {
		if _, err := httpcache.New(o); !errors.Is(err, httpcache.ErrInvalidOptions) {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
	jsonCache, err := tiered.New(tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer jsonCache.Close()
	if _, err := httpcache.New(httpcache.Options{Cache: jsonCache}); err != nil {
		t.Errorf("a cache with the default codec refused: %v (entries encode themselves)", err)
	}
	c, err := httpcache.New(httpcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.RouteMiddleware(httpcache.Route{Strategy: tiered.Custom(-1)}); !errors.Is(err, httpcache.ErrInvalidOptions) {
		t.Errorf("negative strategy accepted: %v", err)
	}
	// Custom(0) means the same everywhere: an invalid strategy (the zero Strategy, not a zero TTL,
	// is "no route TTL" here and "the cache's default" in Load).
	if _, err := c.RouteMiddleware(httpcache.Route{Strategy: tiered.Custom(0)}); !errors.Is(err, httpcache.ErrInvalidOptions) {
		t.Errorf("Custom(0) route: %v", err)
	}
	if _, err := tiered.Load(context.Background(), jsonCache, "k", tiered.Custom(0), func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Errorf("Custom(0) load: %v", err)
	}
}
