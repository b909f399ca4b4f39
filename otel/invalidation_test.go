package stratotel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// TestMetricsInvalidation runs two instances on one Redis with the bus on, each observed through a
// meter provider of its own, and checks the invalidation and bus metrics against the caches'
// counters and against what was done: four kinds of invalidation sent by one instance, a foreign
// message on the channel, a publish that fails while Redis is down, and the resubscription after
// Redis comes back.
func TestMetricsInvalidation(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	ns := fmt.Sprintf("otel-test:%s:%d:", t.Name(), time.Now().UnixNano())
	ha, hb := newHarness(t), newHarness(t)
	a := ha.newCache(t, cacheConfig{rdb: srv.Client(t), namespace: ns, bus: true})
	b := hb.newCache(t, cacheConfig{rdb: srv.Client(t), namespace: ns, bus: true})
	for _, x := range []struct {
		h *harness
		c *tiered.Cache
	}{{ha, a}, {hb, b}} {
		reg, err := x.h.obs.ObserveCache(x.c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Unregister() })
	}

	event := func(e string) attribute.KeyValue { return AttrInvalidationEvent.String(e) }
	// Before anything happened: every event at zero, the bus subscribed.
	m := ha.collect(t)
	for _, e := range []string{"local", "sent", "received", "applied", "failed", "malformed", "own_echo"} {
		if got := sumPoint(t, m, "strata.cache.invalidations", event(e)); got != 0 {
			t.Errorf("invalidations{%s} = %d before any, want 0", e, got)
		}
	}
	if got := sumPoint(t, m, "strata.cache.bus.subscribed"); got != 1 {
		t.Errorf("bus.subscribed = %d, want 1", got)
	}

	for _, c := range []*tiered.Cache{a, b} {
		for i := range 3 {
			if _, err := tiered.Load(ctx, c, fmt.Sprintf("user:%d", i), tiered.ShortTerm, loadUser(new(int), int64(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Invalidate(ctx, "user:0"); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, "user:1", newUser(11), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	if err := a.InvalidatePattern(ctx, "user:*"); err != nil {
		t.Fatal(err)
	}
	if err := a.InvalidateTags(ctx, "team:1"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).Publish(ctx, ns+redistier.DefaultBusChannel, "not a strata message").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return a.Stats().Invalidation.Received == 5 && b.Stats().Invalidation.Received == 5
	})

	// Redis goes away: the next invalidation cannot be broadcast, and both subscriptions drop.
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := a.Invalidate(ctx, "user:2"); !errors.Is(err, tiered.ErrBroadcast) {
		t.Fatalf("Invalidate with Redis down: %v, want ErrBroadcast", err)
	}
	// Its delete from Redis failed too: the tier's failure names the error.
	if got := histCount(t, ha.collect(t), "strata.cache.operation.duration",
		AttrOperation.String("invalidate"), AttrErrorType.String("tier_unavailable")); got != 1 {
		t.Errorf("operation.duration{invalidate, tier_unavailable} count = %d, want 1", got)
	}
	waitFor(t, func() bool { return !a.Stats().Invalidation.Subscribed && !b.Stats().Invalidation.Subscribed })
	if m := hb.collect(t); sumPoint(t, m, "strata.cache.bus.subscribed") != 0 {
		t.Errorf("bus.subscribed = %d while Redis is down, want 0", sumPoint(t, m, "strata.cache.bus.subscribed"))
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		sa, sb := a.Stats().Invalidation, b.Stats().Invalidation
		return sa.Subscribed && sa.Resubscribes >= 1 && sb.Subscribed && sb.Resubscribes >= 1
	})

	for _, tc := range []struct {
		name string
		h    *harness
		c    *tiered.Cache
		want map[string]int64
	}{
		// The sender: four invalidation calls and an update, four messages sent and one failed;
		// its four echoes and the foreign message came back.
		{"sender", ha, a, map[string]int64{"local": 4, "sent": 4, "failed": 1, "received": 5, "own_echo": 4, "malformed": 1, "applied": 0}},
		// The receiver applied the four messages and ignored the foreign one.
		{"receiver", hb, b, map[string]int64{"local": 0, "sent": 0, "failed": 0, "received": 5, "own_echo": 0, "malformed": 1, "applied": 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.h.collect(t)
			st := tc.c.Stats() // stable now: nothing more is sent
			s := st.Invalidation
			fromStats := map[string]uint64{
				"local": st.Invalidations, "sent": s.Sent, "failed": s.Failed, "received": s.Received,
				"own_echo": s.EchoesSkipped, "malformed": s.Malformed, "applied": s.Applied,
			}
			for e, want := range tc.want {
				got := sumPoint(t, m, "strata.cache.invalidations", event(e))
				if got != want {
					t.Errorf("invalidations{%s} = %d, want %d", e, got, want)
				}
				if uint64(got) != fromStats[e] {
					t.Errorf("invalidations{%s} = %d, InvalidationStats says %d", e, got, fromStats[e])
				}
			}
			for _, tc := range []struct {
				name string
				want uint64
			}{
				{"strata.cache.bus.drops", s.Drops},
				{"strata.cache.bus.resubscribes", s.Resubscribes},
				{"strata.cache.l1.clears", s.L1Clears},
				{"strata.cache.tags.overflow", s.TagOverflow},
				{"strata.cache.bus.subscribed", 1},
			} {
				if got := sumPoint(t, m, tc.name); uint64(got) != tc.want {
					t.Errorf("%s = %d, want %d", tc.name, got, tc.want)
				}
			}
			if s.Drops < 1 || s.Resubscribes < 1 || s.L1Clears < 1 {
				t.Errorf("after a restart of Redis: %+v, want a drop, a resubscription and an L1 clear", s)
			}
			inv := m["strata.cache.invalidations"]
			if sum := inv.Data.(metricdata.Sum[int64]); !sum.IsMonotonic || inv.Unit != "{invalidation}" {
				t.Errorf("strata.cache.invalidations: monotonic %v unit %q", sum.IsMonotonic, inv.Unit)
			}
			if sub := m["strata.cache.bus.subscribed"].Data.(metricdata.Sum[int64]); sub.IsMonotonic {
				t.Error("strata.cache.bus.subscribed is monotonic")
			}
		})
	}
}

// TestMetricsInvalidationWithoutBus: a cache without a bus reports its invalidation calls and no
// bus series.
func TestMetricsInvalidationWithoutBus(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	reg, err := h.obs.ObserveCache(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	ctx := context.Background()
	if err := c.Invalidate(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	m := h.collect(t)
	if got := sumPoint(t, m, "strata.cache.invalidations", AttrInvalidationEvent.String("local")); got != 2 {
		t.Errorf("invalidations{local} = %d, want 2", got)
	}
	if got := sumPoint(t, m, "strata.cache.l1.clears"); got != 1 {
		t.Errorf("l1.clears = %d, want 1 (InvalidateAll)", got)
	}
	if n := len(m["strata.cache.invalidations"].Data.(metricdata.Sum[int64]).DataPoints); n != 1 {
		t.Errorf("invalidations has %d series without a bus, want 1", n)
	}
	for _, name := range []string{"strata.cache.bus.drops", "strata.cache.bus.resubscribes", "strata.cache.bus.subscribed"} {
		if _, ok := m[name]; ok {
			t.Errorf("%s reported for a cache without a bus", name)
		}
	}
}

// TestSpansInvalidation: every invalidation call of the bus's family gets its span under the
// caller's span, with the tier calls inside it, a hashed key when it names one key, and its
// duration in the operation histogram.
func TestSpansInvalidation(t *testing.T) {
	secret := []byte("s3cret")
	h := newHarness(t, WithKeyHash(secret))
	c := h.newCache(t, cacheConfig{bus: true})
	sc := h.request(context.Background(), func(ctx context.Context) {
		for _, err := range []error{
			c.Set(ctx, "user:1", newUser(1), tiered.ShortTerm, tiered.Tags("team:1")),
			c.Invalidate(ctx, "user:1"),
			c.Invalidate(ctx, "user:2", "user:3"),
			c.Update(ctx, "user:4", newUser(4), tiered.ShortTerm),
			c.InvalidatePattern(ctx, "user:*"),
			c.InvalidateTags(ctx, "team:1"),
			c.InvalidateAll(ctx),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	// A tagged write writes the tag index too; a tag invalidation takes the tagged keys, then
	// deletes them.
	wantTree(t, h.tree(sc, AttrTierCall), `
strata.set
  strata.tier.set strata.tier.call=set
  strata.tier.set strata.tier.call=set
strata.invalidate
  strata.tier.delete strata.tier.call=delete
strata.invalidate
  strata.tier.delete strata.tier.call=delete
strata.update
  strata.tier.set strata.tier.call=set
strata.invalidate
  strata.tier.delete strata.tier.call=delete
strata.invalidate
  strata.tier.delete strata.tier.call=delete
  strata.tier.delete strata.tier.call=delete
strata.invalidate
  strata.tier.delete strata.tier.call=delete
`)
	// The single-key calls carry the key's hash, the others none.
	var hashes []string
	for _, s := range h.sr.Ended() {
		if s.Name() != "strata.invalidate" && s.Name() != "strata.update" {
			continue
		}
		if s.SpanKind() != trace.SpanKindInternal || s.Parent().SpanID() != sc.SpanID() {
			t.Errorf("%s: kind %v parent %v, want an internal span under the request", s.Name(), s.SpanKind(), s.Parent().SpanID())
		}
		v, _ := attrOf(s, AttrKeyHash)
		hashes = append(hashes, v.AsString())
	}
	hk := func(k string) string { return keyHasher{secret: secret}.hash(k) }
	if want := []string{hk("user:1"), "", hk("user:4"), "", "", ""}; !slices.Equal(hashes, want) {
		t.Errorf("key hashes %q, want %q", hashes, want)
	}
	m := h.collect(t)
	for op, want := range map[string]uint64{"invalidate": 5, "update": 1} {
		if got := histCount(t, m, "strata.cache.operation.duration", AttrOperation.String(op)); got != want {
			t.Errorf("operation.duration{%s} count = %d, want %d", op, got, want)
		}
	}
}
