package httpcache_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/httpcachetest"
	"github.com/stratacache/strata/internal/redistest"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// TestRedisDown checks that a stalled Redis costs at most its tier timeout: responses keep
// coming from L1 or from the origin, never as errors.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	l1, err := ottertier.New(ottertier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := redistier.New(srv.Client(t), redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tiered.New(tiered.Options{
		Tiers: []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: 100 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	c, err := httpcache.New(httpcache.Options{Cache: tc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	origin := &httpcachetest.Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	}}
	h := c.Middleware(origin)
	httpcachetest.Do(h, "GET", "http://example.com/a")
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Resume() }()
	if w := httpcachetest.Do(h, "GET", "http://example.com/a"); !httpcachetest.Hit(w) || w.Body.String() != "v1" {
		t.Fatalf("L1 hit with Redis paused: %q", w.Body)
	}
	start := time.Now()
	w := httpcachetest.Do(h, "GET", "http://example.com/b")
	if w.Code != 200 || w.Body.String() != "v2" {
		t.Fatalf("miss with Redis paused: %d %q", w.Code, w.Body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("miss with Redis paused took %v", d)
	}
	if w := httpcachetest.Do(h, "GET", "http://example.com/b"); !httpcachetest.Hit(w) {
		t.Fatal("response not kept in L1 while Redis is paused")
	}
}
