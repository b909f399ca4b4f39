package httpcache_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/httpcachetest"
	"github.com/stratacache/strata/internal/redistest"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

var busSeq atomic.Int64

// instance is one process of a fleet sharing a Redis and an invalidation bus; with, when given,
// adjusts its tiered options.
func instance(t *testing.T, ns string, with ...func(*tiered.Options)) *httpcache.Cache {
	t.Helper()
	rdb := redistest.Shared(t).Client(t)
	l1, err := ottertier.New(ottertier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l1.Close)
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := redistier.NewBus(rdb, redistier.BusOptions{Channel: ns + redistier.DefaultBusChannel, HealthInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	opts := tiered.Options{
		Tiers:     []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: time.Second}},
		Namespace: ns,
		Bus:       bus,
	}
	for _, f := range with {
		f(&opts)
	}
	tc, err := tiered.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	c, err := httpcache.New(httpcache.Options{Cache: tc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestPurgeAcrossInstances purges through one instance and checks that another, which holds the
// entries in its own L1, stops serving them.
func TestPurgeAcrossInstances(t *testing.T) {
	ns := fmt.Sprintf("hcbus%d:", busSeq.Add(1))
	a, b := instance(t, ns), instance(t, ns)
	origin := &httpcachetest.Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "page "+r.URL.Path[1:])
		fmt.Fprintf(w, "v%d", n)
	}}
	ha, hb := a.Middleware(origin), b.Middleware(origin)
	ph, err := a.PurgeHandler(httpcache.PurgeOptions{Authorize: func(*http.Request) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	warm := func(u string) {
		httpcachetest.Do(ha, "GET", u)
		if w := httpcachetest.Do(hb, "GET", u); !httpcachetest.Hit(w) {
			t.Fatalf("%s: instance b missed what a stored", u)
		}
	}
	gone := func(what, u string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for httpcachetest.Hit(httpcachetest.Do(hb, "GET", u)) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: instance b still serves %s", what, u)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		what string
		u    string
		form url.Values
	}{
		{"url", "http://example.com/one", url.Values{"url": {"http://example.com/one"}}},
		{"tag", "http://example.com/two", url.Values{"tag": {"two"}}},
		{"pattern", "http://example.com/three", url.Values{"pattern": {"http://example.com/th*"}}},
	} {
		warm(tc.u)
		if w := purge(ph, "", tc.form); w.Code != http.StatusNoContent {
			t.Fatalf("%s purge: %d %s", tc.what, w.Code, w.Body)
		}
		gone(tc.what, tc.u)
	}
	// An unsafe request through a invalidates b's copy too.
	warm("http://example.com/four")
	httpcachetest.Do(ha, "POST", "http://example.com/four")
	gone("unsafe method", "http://example.com/four")
}
