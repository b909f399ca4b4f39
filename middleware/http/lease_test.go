package httpcache_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/httpcachetest"
	"github.com/stratacache/strata/tiered"
)

// TestFleetAsksTheOriginOnce sends 4 instances × 25 concurrent requests for each of a few cold
// URLs: with leases on, the fleet asks the origin once per URL, and every request gets the body.
func TestFleetAsksTheOriginOnce(t *testing.T) {
	ns := fmt.Sprintf("hclease%d:", busSeq.Add(1))
	leases := func(o *tiered.Options) { o.Leases = true }
	origin := &httpcachetest.Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "body of %s", r.URL.Path)
	}}
	var handlers []http.Handler
	for range 4 {
		handlers = append(handlers, instance(t, ns, leases).Middleware(origin))
	}
	for round := range 3 {
		path := fmt.Sprintf("/cold/%d", round)
		before := origin.N.Load()
		var wg sync.WaitGroup
		bad := make(chan string, 100)
		for _, h := range handlers {
			for range 25 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w := httpcachetest.Do(h, "GET", "http://example.com"+path)
					if w.Code != http.StatusOK || w.Body.String() != "body of "+path {
						bad <- fmt.Sprintf("%d %q", w.Code, w.Body.String())
					}
				}()
			}
		}
		wg.Wait()
		close(bad)
		for b := range bad {
			t.Errorf("%s: %s", path, b)
		}
		if n := origin.N.Load() - before; n != 1 {
			t.Fatalf("%s: the fleet asked the origin %d times, want 1", path, n)
		}
	}
}

// TestFleetWithoutLeasesAsksPerInstance is the control: without leases each instance asks the
// origin for a cold URL (its own requests coalesced).
func TestFleetWithoutLeasesAsksPerInstance(t *testing.T) {
	ns := fmt.Sprintf("hclease%d:", busSeq.Add(1))
	origin := &httpcachetest.Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprint(w, "body")
	}}
	var handlers []http.Handler
	for range 4 {
		handlers = append(handlers, instance(t, ns).Middleware(origin))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, h := range handlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			httpcachetest.Do(h, "GET", "http://example.com/cold")
		}()
	}
	close(start)
	wg.Wait()
	if n := origin.N.Load(); n < 2 {
		t.Fatalf("without leases the origin was asked %d times: the control does not stampede", n)
	}
}
