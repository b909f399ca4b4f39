package tiered_test

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// TestBusOutageSparesTheSource: during a Redis outage with the bus on, L1 is cleared once when
// the drop is noticed and then keeps serving what the loader returns, each entry for at most
// DownL1TTL: a hot key read by 16 goroutines throughout calls its loader at most
// ⌈outage / DownL1TTL⌉ + 1 times. Once Redis is back, L1 is cleared once more.
func TestBusOutageSparesTheSource(t *testing.T) {
	for _, kind := range []string{"kill", "pause"} {
		t.Run(kind, func(t *testing.T) {
			outage := 5 * time.Second
			if testing.Short() {
				outage = 2 * time.Second
			}
			const downTTL = time.Second
			srv := redistest.Start(t)
			rdb := srv.Client(t)
			c := newBusCache(t, rdb, busNamespace(t), func(c *busConfig) {
				c.opts.Tiers[1].Timeout = 50 * time.Millisecond
				c.opts.Breaker = tiered.BreakerOptions{Failures: 3, Cooldown: 200 * time.Millisecond}
				c.opts.BusOptions.DownL1TTL = downTTL
				c.opts.BusOptions.PublishTimeout = 50 * time.Millisecond
			})
			var calls atomic.Int64
			load := func(context.Context) (int, error) { calls.Add(1); return 1, nil }
			ctx := context.Background()
			if _, err := tiered.Load(ctx, c, "hot", tiered.ShortTerm, load); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var errs atomic.Int64
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if v, err := tiered.Load(ctx, c, "hot", tiered.ShortTerm, load); err != nil || v != 1 {
							errs.Add(1)
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			before := calls.Load()
			clears := c.Stats().Invalidation.L1Clears
			if kind == "kill" {
				if err := srv.Kill(); err != nil {
					t.Fatal(err)
				}
			} else if err := srv.Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(outage) // the outage itself: its length is what the bound is about
			during := calls.Load() - before
			duringClears := c.Stats().Invalidation.L1Clears - clears
			if kind == "kill" {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			} else if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
			busEventually(t, 10*time.Second, "resubscribed", func() bool { return c.Stats().Invalidation.Subscribed })
			close(stop)
			wg.Wait()
			bound := int64(math.Ceil(float64(outage)/float64(downTTL))) + 1
			t.Logf("%v outage (%s): %d loader calls (bound %d), %d L1 clears; after it: %d clears in all", outage, kind, during, bound, duringClears, c.Stats().Invalidation.L1Clears-clears)
			if during > bound {
				t.Errorf("loader called %d times during a %v outage, want <= %d", during, outage, bound)
			}
			if duringClears != 1 {
				t.Errorf("L1 cleared %d times during the outage, want 1", duringClears)
			}
			if n := errs.Load(); n != 0 {
				t.Errorf("%d reads failed or returned a wrong value", n)
			}
		})
	}
}
