package tiered_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// TestTwoInstancesThroughFaults: instance A updates 16 keys 5,000 times (a source of truth first,
// then the cache) while instance B reads them, and the bus goes through CLIENT KILL TYPE pubsub
// and a Redis kill -9, 300 updates later a restart. Every read of B is checked against the updates A had completed
// when the read started: no read returns a value older than an Update that had returned nil more
// than the documented bound earlier (DownL1TTL + 2 × HealthInterval), and once the writes end
// both instances hold every key's last value within that bound. The staleness seen is logged.
func TestTwoInstancesThroughFaults(t *testing.T) {
	const (
		keys       = 16
		health     = 200 * time.Millisecond
		downTTL    = time.Second
		bound      = downTTL + 2*health
		readersOfB = 4
		killPubSub = 1500
		killAt     = 3000 // Redis is down for the next 300 updates
		restartAt  = 3300
	)
	updates := 5000
	if testing.Short() {
		updates = 2000
	}
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	admin := srv.Client(t)
	ns := busNamespace(t)
	edit := func(c *busConfig) {
		c.opts.Tiers[1].Timeout = 100 * time.Millisecond
		c.opts.Breaker = tiered.BreakerOptions{Failures: 3, Cooldown: 200 * time.Millisecond}
		c.opts.BusOptions.DownL1TTL = downTTL
		c.opts.BusOptions.PublishTimeout = 100 * time.Millisecond
		c.bus.HealthInterval = health
	}
	a := newBusCache(t, rdb, ns, edit)
	b := newBusCache(t, srv.Client(t), ns, edit)
	ctx := context.Background()

	// The source of truth: the value of each key, which A changes before updating the cache.
	var source [keys]atomic.Int64
	key := func(k int) string { return fmt.Sprint("k", k) }
	for k := range keys {
		source[k].Store(int64(k))
		if err := a.Set(ctx, key(k), k, tiered.ShortTerm); err != nil {
			t.Fatal(err)
		}
	}
	// Value i (i >= keys) belongs to key i % keys; returned[i] is when A's Update of it returned,
	// ok[i] whether it returned nil.
	total := keys + updates
	returned := make([]atomic.Int64, total)
	ok := make([]atomic.Bool, total)

	type read struct {
		k     int
		v     int
		start int64
	}
	var (
		mu    sync.Mutex
		reads []read
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for r := range readersOfB {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []read
			defer func() { mu.Lock(); reads = append(reads, local...); mu.Unlock() }()
			for n := r; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				k := n % keys
				start := time.Now().UnixNano()
				v, err := tiered.Load(ctx, b, key(k), tiered.ShortTerm, func(context.Context) (int, error) { return int(source[k].Load()), nil })
				if err != nil {
					t.Errorf("B read: %v", err)
					return
				}
				local = append(local, read{k, v, start})
				time.Sleep(100 * time.Microsecond) // pace: leave the writer its share of the CPU
			}
		}()
	}

	failed := 0
	for i := keys; i < total; i++ {
		switch i - keys {
		case killPubSub:
			if err := admin.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
				t.Fatal(err)
			}
		case killAt:
			if err := srv.Kill(); err != nil {
				t.Fatal(err)
			}
		case restartAt:
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}
		k := i % keys
		source[k].Store(int64(i))
		err := a.Update(ctx, key(k), i, tiered.ShortTerm)
		returned[i].Store(time.Now().UnixNano())
		ok[i].Store(err == nil)
		if err != nil {
			failed++
		}
	}
	writesEnded := time.Now()

	// Both instances converge on the last values within the bound.
	var converged time.Duration
	busEventually(t, bound+time.Second, "every key equal on both instances", func() bool {
		for k := range keys {
			want := int(source[k].Load())
			for _, c := range []*tiered.Cache{a, b} {
				v, err := tiered.Load(ctx, c, key(k), tiered.ShortTerm, func(context.Context) (int, error) { return want, nil })
				if err != nil || v != want {
					return false
				}
			}
		}
		converged = time.Since(writesEnded)
		return true
	})
	close(stop)
	wg.Wait()

	// Staleness of each read: how long before it started had an Update newer than its value
	// returned nil.
	var lags []time.Duration
	for _, r := range reads {
		for j := r.v + keys; j < total; j += keys {
			at := returned[j].Load()
			if at == 0 || at >= r.start {
				break
			}
			if ok[j].Load() {
				lags = append(lags, time.Duration(r.start-at))
				break
			}
		}
	}
	slices.Sort(lags)
	pct := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[int(p*float64(len(lags)-1))].Round(100 * time.Microsecond)
	}
	var worst time.Duration
	if len(lags) > 0 {
		worst = lags[len(lags)-1]
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("%d updates (%d returned an error), %d reads of B, %d stale: staleness p50 %v, p99 %v, max %v (bound %v); converged %v after the last write",
		updates, failed, len(reads), len(lags), pct(0.5), pct(0.99), worst.Round(time.Millisecond), bound, converged.Round(time.Millisecond))
	t.Logf("B: drops %d, resubscribes %d, L1 clears %d; A: owed repairs %d, flushes %d",
		sb.Invalidation.Drops, sb.Invalidation.Resubscribes, sb.Invalidation.L1Clears, sa.Tiers[1].Repairs, sa.Tiers[1].Flushes)
	if worst > bound {
		t.Errorf("a read of B was %v stale, bound %v", worst, bound)
	}
	if sb.Invalidation.Drops < 2 || sb.Invalidation.Resubscribes < 2 {
		t.Errorf("B did not go through both faults: %+v", sb.Invalidation)
	}
}
