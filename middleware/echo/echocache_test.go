package echocache_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/stratacache/strata/internal/httpcachetest"
	echocache "github.com/stratacache/strata/middleware/echo"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
)

func TestEchoSpecifics(t *testing.T) {
	httpcachetest.Stores(t, adapter, httpcache.Options{}, func(t *testing.T, env *httpcachetest.Env) {
		var calls atomic.Int64
		e := echo.New()
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { c.Set("user", "anonymous"); return next(c) }
		})
		cacheMW := echocache.Middleware(env.Cache)
		e.GET("/items/:id", func(c echo.Context) error {
			n := calls.Add(1)
			c.Response().Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
			if n == 1 {
				c.Response().Header().Set("Age", "5") // stale at once: the next hit revalidates in the background
			}
			return c.String(http.StatusOK, fmt.Sprintf("item %s for %v, call %d", c.Param("id"), c.Get("user"), n))
		}, cacheMW)
		e.GET("/missing", func(c echo.Context) error {
			calls.Add(1)
			return echo.NewHTTPError(http.StatusNotFound, "no such thing")
		}, cacheMW)
		e.GET("/fails", func(c echo.Context) error { return errors.New("boom") }, cacheMW)

		w := httpcachetest.Do(e, "GET", "http://example.com/items/7")
		if w.Body.String() != "item 7 for anonymous, call 1" {
			t.Fatalf("first: %q", w.Body)
		}
		w = httpcachetest.Do(e, "GET", "http://example.com/items/7")
		if !httpcachetest.Hit(w) || w.Body.String() != "item 7 for anonymous, call 1" {
			t.Fatalf("stale hit: %q (%s)", w.Body, w.Header().Get("Cache-Status"))
		}
		deadline := time.Now().Add(5 * time.Second)
		for httpcachetest.Do(e, "GET", "http://example.com/items/7").Body.String() != "item 7 for <nil>, call 2" {
			if time.Now().After(deadline) {
				t.Fatal("background revalidation with route parameters did not happen")
			}
			time.Sleep(5 * time.Millisecond)
		}

		before := calls.Load()
		for range 2 {
			w = httpcachetest.Do(e, "GET", "http://example.com/missing")
			if w.Code != 404 || httpcachetest.Hit(w) {
				t.Fatalf("echo error: %d (%s)", w.Code, w.Header().Get("Cache-Status"))
			}
		}
		if calls.Load()-before != 2 {
			t.Fatal("error response stored")
		}
		if w = httpcachetest.Do(e, "GET", "http://example.com/fails"); w.Code != 500 {
			t.Fatalf("plain error: %d", w.Code)
		}
	})
}

func TestRouteMiddlewareValidates(t *testing.T) {
	c, err := httpcache.New(httpcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := echocache.RouteMiddleware(c, httpcache.Route{Strategy: tiered.Custom(-time.Second)}); !errors.Is(err, httpcache.ErrInvalidOptions) {
		t.Fatalf("err = %v", err)
	}
}
