package tiered_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// openBreaker freezes srv until c's L2 breaker opens (one timed-out read with Failures 1), then
// lets Redis answer again: Redis is healthy, c's breaker is open for its cooldown.
func openBreaker(t *testing.T, srv *redistest.Server, c *tiered.Cache) {
	t.Helper()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	for i := 0; c.Stats().Tiers[len(c.Tiers())-1].Breaker != tiered.BreakerOpen; i++ {
		if i == 50 {
			t.Fatal("breaker did not open")
		}
		_, _, _ = tiered.Get[int](context.Background(), c, "probe")
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
}

// TestChangeMissedByTierIsOwed: a change that Redis misses because the cache's breaker is open
// (Redis itself answering again) returns an error wrapping ErrTierUnavailable, and Redis never
// serves the older value to this cache afterwards: the tier catches up on the change before it
// serves a read, by itself once the breaker lets a probe through. Every kind of change.
func TestChangeMissedByTierIsOwed(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	changes := map[string]func(ctx context.Context, c *tiered.Cache) error{
		"Set":    func(ctx context.Context, c *tiered.Cache) error { return c.Set(ctx, "k", 2, tiered.ShortTerm) },
		"Update": func(ctx context.Context, c *tiered.Cache) error { return c.Update(ctx, "k", 2, tiered.ShortTerm) },
		"SetMany": func(ctx context.Context, c *tiered.Cache) error {
			return c.SetMany(ctx, []tiered.BatchValue{{Key: "k", Value: 2}}, tiered.ShortTerm)
		},
		"Invalidate":        func(ctx context.Context, c *tiered.Cache) error { return c.Invalidate(ctx, "k") },
		"InvalidatePattern": func(ctx context.Context, c *tiered.Cache) error { return c.InvalidatePattern(ctx, "k*") },
		"InvalidateTags":    func(ctx context.Context, c *tiered.Cache) error { return c.InvalidateTags(ctx, "tag") },
		"InvalidateAll":     func(ctx context.Context, c *tiered.Cache) error { return c.InvalidateAll(ctx) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := namespace(t)
			// L2 alone: every read goes to Redis, so a stale Redis entry would show.
			c := newCache(t, tiered.Options{
				Namespace: ns,
				Tiers:     []tiered.Tier{{Backend: newL2(t, rdb, "redis"), Timeout: 100 * time.Millisecond}},
				Breaker:   tiered.BreakerOptions{Failures: 1, Cooldown: 300 * time.Millisecond},
			})
			if err := c.Set(ctx, "k", 1, tiered.ShortTerm, tiered.Tags("tag")); err != nil {
				t.Fatal(err)
			}
			openBreaker(t, srv, c)
			start := time.Now()
			err := change(ctx, c)
			if !errors.Is(err, tiered.ErrTierUnavailable) {
				t.Fatalf("change with the breaker open = %v, want ErrTierUnavailable", err)
			}
			if d := time.Since(start); d > 60*time.Millisecond { // the tier's Timeout is 100ms
				t.Fatalf("change with the breaker open took %v", d)
			}
			if s := c.Stats().Tiers[0]; s.Owed == 0 {
				t.Fatalf("nothing owed: %+v", s)
			}
			// Until and after the cooldown, reads never see 1.
			for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); {
				v, found, err := tiered.Get[int](ctx, c, "k")
				if err == nil && found && v == 1 {
					t.Fatalf("read %v after the change", v)
				}
				time.Sleep(5 * time.Millisecond)
			}
			busEventually(t, 3*time.Second, "tier caught up", func() bool { return c.Stats().Tiers[0].Owed == 0 })
			if n := rdb.Exists(ctx, ns+"k").Val(); n != 0 {
				t.Fatalf("Redis still holds the key after catching up")
			}
			if s := c.Stats().Tiers[0]; s.Repairs == 0 {
				t.Fatalf("after catching up: %+v", s)
			}
		})
	}
}

// TestOwedChangesRepairedWithoutTraffic: an idle cache pays its debt by itself once Redis is
// back: another instance reading Redis directly stops seeing the old value within the breaker's
// cooldown (plus the repair's tick).
func TestOwedChangesRepairedWithoutTraffic(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	ns := namespace(t)
	a := newCache(t, tiered.Options{
		Namespace: ns,
		Tiers:     []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis"), Timeout: 50 * time.Millisecond}},
		Breaker:   tiered.BreakerOptions{Failures: 1, Cooldown: 200 * time.Millisecond},
	})
	if err := a.Set(ctx, "k", 1, tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	openBreaker(t, srv, a)
	changed := time.Now()
	if err := a.Update(ctx, "k", 2, tiered.ShortTerm); !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Fatalf("Update = %v", err)
	}
	busEventually(t, 2*time.Second, "old value gone from Redis", func() bool { return rdb.Exists(ctx, ns+"k").Val() == 0 })
	if d := time.Since(changed); d > 200*time.Millisecond+500*time.Millisecond {
		t.Fatalf("Redis kept the old value %v after the change", d)
	}
	t.Logf("old value gone from Redis %v after the change (breaker cooldown 200ms)", time.Since(changed).Round(time.Millisecond))
	if v, _, _ := tiered.Get[int](ctx, a, "k"); v != 2 {
		t.Fatalf("a reads %d", v)
	}
}

// TestOutboxOverflowFlushes: a tier that missed more changes than its outbox keeps is flushed
// (its namespace) before it serves again, never trusted.
func TestOutboxOverflowFlushes(t *testing.T) {
	defer tiered.SetOwedLimits(2, 2)()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	ns := namespace(t)
	c := newCache(t, tiered.Options{
		Namespace: ns,
		Tiers:     []tiered.Tier{{Backend: newL2(t, rdb, "redis"), Timeout: 50 * time.Millisecond}},
		Breaker:   tiered.BreakerOptions{Failures: 1, Cooldown: 200 * time.Millisecond},
	})
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := c.Set(ctx, k, 1, tiered.ShortTerm); err != nil {
			t.Fatal(err)
		}
	}
	other := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer other.Close()
	openBreaker(t, srv, c)
	if err := c.Invalidate(ctx, "a", "b", "c"); !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Fatalf("Invalidate = %v", err)
	}
	busEventually(t, 3*time.Second, "flushed", func() bool { return c.Stats().Tiers[0].Flushes == 1 })
	if n := other.Exists(ctx, ns+"a", ns+"b", ns+"c", ns+"d").Val(); n != 0 {
		t.Fatalf("%d keys left after the flush", n)
	}
	if s := c.Stats().Tiers[0]; s.Owed != 0 || s.Breaker != tiered.BreakerClosed {
		t.Fatalf("after the flush: %+v", s)
	}
}

// TestTagInvalidationMissedByTierClearsEveryL1: when Redis cannot say which keys a tag holds
// (this cache's breaker is open), InvalidateTags owes the tags to Redis and clears the in-process
// tiers here and, over the bus, on every other instance, since any of them may hold such a key.
func TestTagInvalidationMissedByTierClearsEveryL1(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	ns := busNamespace(t)
	edit := func(c *busConfig) {
		c.opts.Tiers[1].Timeout = 50 * time.Millisecond
		c.opts.Breaker = tiered.BreakerOptions{Failures: 1, Cooldown: time.Minute}
	}
	a := newBusCache(t, rdb, ns, edit)
	b := newBusCache(t, srv.Client(t), ns, edit)
	// A third instance, off the bus, writes a tagged key; B reads it from Redis into its L1.
	// Neither A's nor B's in-process tag index knows it: only Redis's does.
	c := newBusCache(t, srv.Client(t), ns, edit, withoutBus)
	if err := c.Set(ctx, "k", 1, tiered.ShortTerm, tiered.Tags("tag")); err != nil {
		t.Fatal(err)
	}
	if v, found, err := tiered.Get[int](ctx, b, "k"); err != nil || !found || v != 1 {
		t.Fatalf("B reads %v %v %v", v, found, err)
	}
	if _, ok := busL1Value(b, "k"); !ok {
		t.Fatal("B does not hold k")
	}
	openBreaker(t, srv, a)
	if err := a.InvalidateTags(ctx, "tag"); !errors.Is(err, tiered.ErrTierUnavailable) || errors.Is(err, tiered.ErrBroadcast) {
		t.Fatalf("InvalidateTags = %v, want ErrTierUnavailable and a broadcast", err)
	}
	busEventually(t, 2*time.Second, "B's L1 cleared", func() bool { _, ok := busL1Value(b, "k"); return !ok })
	if s := a.Stats().Tiers[1]; s.Owed != 1 {
		t.Fatalf("A owes %d changes, want the tag set", s.Owed)
	}
}
