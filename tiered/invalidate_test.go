package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// TestInvalidatePatternWithoutBus: local tiers by the glob matcher, Redis by SCAN + UNLINK,
// confined to the namespace even when the namespace holds glob characters.
func TestInvalidatePatternWithoutBus(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := busNamespace(t) + "[x]*?:"
	c := newBusCache(t, rdb, ns, withoutBus)
	other := newBusCache(t, rdb, busNamespace(t), withoutBus)
	for i := range 1500 { // more than one SCAN batch
		if err := c.Set(ctx, fmt.Sprint("user:", i), i, tiered.Default); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"user:x", "group:1", "user*"} {
		if err := c.Set(ctx, k, 0, tiered.Default); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Set(ctx, "user:1", 1, tiered.Default); err != nil {
		t.Fatal(err)
	}
	// A key outside the namespace that the unescaped namespace pattern would match.
	if err := rdb.Set(ctx, "t0:[x]*?:user:1", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidatePattern(ctx, "user:[0-9]*"); err != nil {
		t.Fatal(err)
	}
	for i := range 1500 {
		if _, ok := tiered.L1Value(c, fmt.Sprint("user:", i)); ok {
			t.Fatalf("user:%d still in L1", i)
		}
	}
	left, err := busScanAll(ctx, rdb, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range left {
		if len(k) > len(ns) && k[:len(ns)] == ns && k[len(ns):len(ns)+5] == "user:" && k[len(ns)+5] >= '0' && k[len(ns)+5] <= '9' {
			t.Fatalf("%q left in redis", k)
		}
	}
	for _, k := range []string{ns + "user:x", ns + "group:1", ns + "user*", "t0:[x]*?:user:1"} {
		if !slices.Contains(left, k) {
			t.Fatalf("%q was removed", k)
		}
	}
	if v, ok, _ := tiered.Get[int](ctx, other, "user:1"); !ok || v != 1 {
		t.Fatal("another namespace lost its key")
	}
	if err := c.InvalidatePattern(ctx, ""); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("empty pattern: %v", err)
	}
	if err := c.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tiered.Get[int](ctx, c, "group:1"); ok {
		t.Fatal("InvalidateAll left a key")
	}
	if v, ok, _ := tiered.Get[int](ctx, other, "user:1"); !ok || v != 1 {
		t.Fatal("InvalidateAll reached another namespace")
	}
	// Without a namespace InvalidateAll refuses to touch a shared Redis.
	bare := newBusCache(t, rdb, "", withoutBus)
	if err := bare.InvalidateAll(ctx); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("InvalidateAll without namespace: %v", err)
	}
}

func busScanAll(ctx context.Context, rdb *redis.Client, pattern string) ([]string, error) {
	var out []string
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	return out, iter.Err()
}

// TestInvalidateL1Only: the whole family works on the embedded L1 with no Redis at all.
func TestInvalidateL1Only(t *testing.T) {
	ctx := context.Background()
	c, err := tiered.New(tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a:1", "a:2", "b:1", "t:1", "t:2"} {
		var opts []tiered.WriteOption
		if k[0] == 't' {
			opts = append(opts, tiered.Tags("tt"))
		}
		if err := c.Set(ctx, k, 1, tiered.Default, opts...); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.InvalidatePattern(ctx, "a:?"); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateTags(ctx, "tt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(ctx, "b:1"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a:1", "a:2", "b:1", "t:1", "t:2"} {
		if _, ok := tiered.L1Value(c, k); ok {
			t.Fatalf("%s survived", k)
		}
	}
	if err := c.Update(ctx, "u", 5, tiered.Default); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := tiered.Get[int](ctx, c, "u"); !ok || v != 5 {
		t.Fatal("Update without bus did not write")
	}
	if err := c.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := tiered.L1Value(c, "u"); ok {
		t.Fatal("InvalidateAll left u")
	}
	if st := c.Stats(); st.Invalidations != 4 || st.Invalidation.Sent != 0 || st.Invalidation.Subscribed {
		t.Fatalf("stats %+v", st)
	}
}

// TestUpdateTypeMismatch: a receiver holding a value of another type drops the key rather than
// serving something it cannot type.
func TestUpdateTypeMismatch(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	a := newBusCache(t, srv.Client(t), ns)
	b := newBusCache(t, srv.Client(t), ns)
	if _, err := tiered.Load(ctx, b, "k", tiered.Default, func(context.Context) (int, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, "k", "not a number", tiered.Default); err != nil {
		t.Fatal(err)
	}
	busEventually(t, time.Second, "k dropped from b", func() bool {
		_, ok := tiered.L1Value(b, "k")
		return !ok
	})
	if s, ok, err := tiered.Get[string](ctx, b, "k"); err != nil || !ok || s != "not a number" {
		t.Fatalf("Get = %q %v %v", s, ok, err)
	}
}

// TestUpdateUnencodable: a value the codec cannot encode is broadcast as an invalidation.
func TestUpdateUnencodable(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	a := newBusCache(t, srv.Client(t), ns)
	b := newBusCache(t, srv.Client(t), ns)
	busLoadInt(t, b, "k", 1)
	if err := a.Update(ctx, "k", make(chan int), tiered.Default); err == nil {
		t.Fatal("unencodable value accepted")
	}
	busEventually(t, time.Second, "k dropped from b", func() bool {
		_, ok := tiered.L1Value(b, "k")
		return !ok
	})
}

// TestUpdateTooLargeIsInvalidation: a value above MaxUpdateSize travels as an invalidation.
func TestUpdateTooLargeIsInvalidation(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	small := func(c *busConfig) {
		c.opts.BusOptions.MaxUpdateSize = 16
		// No second pass: the first update's pass would remove the copy the second one stored
		// in b's L1 (a miss, not a stale read), and the test reads that copy.
		c.opts.BusOptions.RecheckAfter = -1
	}
	a := newBusCache(t, srv.Client(t), ns, small)
	b := newBusCache(t, srv.Client(t), ns, small)
	if _, err := tiered.Load(ctx, b, "k", tiered.Default, func(context.Context) (string, error) { return "old", nil }); err != nil {
		t.Fatal(err)
	}
	big := "a value well over sixteen bytes"
	if err := a.Update(ctx, "k", big, tiered.Default); err != nil {
		t.Fatal(err)
	}
	busEventually(t, time.Second, "k dropped from b", func() bool {
		_, ok := tiered.L1Value(b, "k")
		return !ok
	})
	if s, _, _ := tiered.Get[string](ctx, b, "k"); s != big {
		t.Fatalf("b reads %q", s)
	}
	if err := a.Update(ctx, "k", "tiny", tiered.Default); err != nil {
		t.Fatal(err)
	}
	busEventually(t, time.Second, "small value sent as an update", func() bool {
		v, ok := busL1Value(b, "k")
		return ok && v == "tiny"
	})
}
