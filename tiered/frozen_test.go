package tiered_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// silentListener accepts connections and never answers; it closes them when the test ends.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// frozenRedis is a way to get a Redis that accepts connections and never answers.
type frozenRedis struct {
	name   string
	freeze func(t *testing.T) (addr string)
}

var frozenRedises = []frozenRedis{
	{"silent listener", silentListener},
	{"SIGSTOP", func(t *testing.T) string {
		srv := redistest.Start(t)
		if err := srv.Pause(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Resume() })
		return srv.Addr()
	}},
}

// frozenClient is a client with go-redis's default timeouts (5 s dial, 3 s read) on addr.
func frozenClient(t *testing.T, addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestFrozenRedisNewAndClose: against a Redis that accepts and never answers, New returns within
// BusOptions.StartTimeout (+10%), at once with a negative StartTimeout, and Close within the bound
// it documents (1 s for the bus, nothing running in the background here).
func TestFrozenRedisNewAndClose(t *testing.T) {
	for _, fr := range frozenRedises {
		t.Run(fr.name, func(t *testing.T) {
			rdb := frozenClient(t, fr.freeze(t))
			for _, wait := range []time.Duration{300 * time.Millisecond, -1} {
				bus, err := redistier.NewBus(rdb, redistier.BusOptions{Channel: busNamespace(t) + "ch"})
				if err != nil {
					t.Fatal(err)
				}
				l2, err := redistier.New(rdb, redistier.Options{})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				c, err := tiered.New(tiered.Options{
					Namespace: busNamespace(t),
					Tiers:     []tiered.Tier{{Backend: busL1(t)}, {Backend: l2, Timeout: 50 * time.Millisecond}},
					Bus:       bus, BusOptions: tiered.BusOptions{StartTimeout: wait},
				})
				took := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				limit := max(wait, 0)*11/10 + 30*time.Millisecond
				t.Logf("StartTimeout %v: New took %v", wait, took.Round(time.Microsecond))
				if took > limit {
					t.Errorf("StartTimeout %v: New took %v, want <= %v", wait, took, limit)
				}
				if c.Stats().Invalidation.Subscribed {
					t.Fatal("subscribed to a frozen server")
				}
				// The cache works meanwhile, from L1 and the loader.
				if v := busLoadInt(t, c, "k", 7); v != 7 {
					t.Fatalf("Load = %d", v)
				}
				start = time.Now()
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				took = time.Since(start)
				t.Logf("Close took %v", took.Round(time.Microsecond))
				if took > 1100*time.Millisecond {
					t.Errorf("Close took %v, want <= 1.1s", took)
				}
			}
		})
	}
}

// TestFrozenRedisChangesFailFast: against a frozen Redis, changes pay the tier's Timeout and the
// PublishTimeout only until the breakers open (or, for the tier, until it owes changes that its
// background repair is trying to apply); from then on they return at once, with errors wrapping
// ErrTierUnavailable and ErrBroadcast.
func TestFrozenRedisChangesFailFast(t *testing.T) {
	for _, fr := range frozenRedises {
		t.Run(fr.name, func(t *testing.T) {
			rdb := frozenClient(t, fr.freeze(t))
			bus, err := redistier.NewBus(rdb, redistier.BusOptions{Channel: busNamespace(t) + "ch"})
			if err != nil {
				t.Fatal(err)
			}
			l2, err := redistier.New(rdb, redistier.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c := newCache(t, tiered.Options{
				Namespace: busNamespace(t),
				Tiers:     []tiered.Tier{{Backend: busL1(t)}, {Backend: l2, Timeout: 50 * time.Millisecond}},
				Breaker:   tiered.BreakerOptions{Failures: 2, Cooldown: time.Minute},
				Bus:       bus, BusOptions: tiered.BusOptions{StartTimeout: -1, PublishTimeout: 50 * time.Millisecond},
			})
			ctx := context.Background()
			changes := []func() error{
				func() error { return c.Set(ctx, "k", 1, tiered.ShortTerm) },
				func() error { return c.Update(ctx, "k", 2, tiered.ShortTerm) },
				func() error { return c.Invalidate(ctx, "k") },
				func() error { return c.InvalidatePattern(ctx, "k*") },
				func() error { return c.InvalidateTags(ctx, "t") },
				func() error { return c.InvalidateAll(ctx) },
			}
			for i := range 3 { // open the breakers (or leave the tier catching up)
				_ = changes[i]()
			}
			for i, change := range changes {
				start := time.Now()
				err := change()
				took := time.Since(start)
				if !errors.Is(err, tiered.ErrTierUnavailable) || !errors.Is(err, tiered.ErrBroadcast) {
					t.Fatalf("change %d = %v", i, err)
				}
				if took > 40*time.Millisecond { // paying a timeout would take 50ms
					t.Fatalf("change %d took %v with both breakers open", i, took)
				}
			}
			s := c.Stats()
			// The tier is skipped by its breaker, or while the background repair waits on it.
			if s.Invalidation.Breaker != tiered.BreakerOpen || s.Invalidation.Skipped < 6 || s.Tiers[1].Owed == 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}
