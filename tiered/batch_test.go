package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// batchCache builds an otter L1 over a Redis of the test's own; instances built on the same
// server and namespace share their L2.
func batchCache(t *testing.T, srv *redistest.Server, mod ...func(*tiered.Options)) *tiered.Cache {
	t.Helper()
	l1, err := ottertier.New(ottertier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l1.Close)
	l2, err := redistier.New(srv.Client(t), redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := tiered.Options{Tiers: []tiered.Tier{{Backend: l1}, {Backend: l2}}, Namespace: "batch:"}
	for _, m := range mod {
		m(&o)
	}
	c, err := tiered.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestGetManySetMany(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	writer, reader := batchCache(t, srv), batchCache(t, srv)
	s := tiered.Custom(time.Minute).WithNegativeTTL(time.Minute)
	err := writer.SetMany(ctx, []tiered.BatchValue{
		{Key: "a", Value: "A"},
		{Key: "b", Value: "B"},
		{Key: "gone", NotFound: true},
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "gone", "nope"}
	got, err := tiered.GetMany[string](ctx, reader, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		found, negative bool
		value           string
		tier            int
	}{{true, false, "A", 1}, {true, false, "B", 1}, {false, true, "", 1}, {false, false, "", -1}}
	for i, w := range want {
		g := got[i]
		if g.Found != w.found || g.Negative != w.negative || g.Value != w.value || g.Tier != w.tier {
			t.Fatalf("%s: %+v, want %+v", keys[i], g, w)
		}
	}
	// Promoted: the second read is answered by L1, entries keep their lifetime.
	got, err = tiered.GetMany[string](ctx, reader, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Tier != 0 || got[2].Tier != 0 || !got[2].Negative {
		t.Fatalf("after promotion: %+v", got)
	}
	exp, _ := tiered.L1ExpiresAt(reader, keys[0])
	if left := time.Until(time.Unix(0, exp)); left < 50*time.Second || left > time.Minute {
		t.Fatalf("promoted entry has %v left", left)
	}
	st := reader.Stats()
	if st.Tiers[1].Hits != 3 || st.Tiers[0].Hits != 3 || st.Misses != 2 || st.NegativeHits != 2 || st.Requests != 8 {
		t.Fatalf("stats %+v", st)
	}
	// A value of another type is a miss for the typed read, not an error.
	if got, err := tiered.GetMany[int](ctx, batchCache(t, srv), []string{"a"}); err != nil || got[0].Found {
		t.Fatalf("type mismatch: %+v, %v", got, err)
	}
	if _, err := tiered.GetMany[string](ctx, reader, []string{"a", ""}); !errors.Is(err, tiered.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
}

func TestGetManyStaleAndCorrupt(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	c := batchCache(t, srv)
	if err := c.SetMany(ctx, []tiered.BatchValue{{Key: "s", Value: 1}}, tiered.Custom(50*time.Millisecond).WithStale(time.Minute)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	got, err := tiered.GetMany[int](ctx, c, []string{"s"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Found {
		t.Fatalf("a stale entry is a miss for GetMany: %+v", got[0])
	}
	// A foreign value in Redis is dropped and counted, never an error.
	rdb := srv.Client(t)
	if err := rdb.Set(ctx, "batch:junk", "not an entry", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	got, err = tiered.GetMany[int](ctx, c, []string{"junk"})
	if err != nil || got[0].Found {
		t.Fatalf("corrupt entry: %+v, %v", got, err)
	}
	if n, _ := rdb.Exists(ctx, "batch:junk").Result(); n != 0 {
		t.Fatal("corrupt entry was not deleted")
	}
	if st := c.Stats(); st.Corrupt != 1 {
		t.Fatalf("corrupt count %d", st.Corrupt)
	}
}

func TestBatchWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	open := batchCache(t, srv, func(o *tiered.Options) { o.Tiers[1].Timeout = 100 * time.Millisecond })
	closed := batchCache(t, srv, func(o *tiered.Options) { o.Tiers[1].Timeout = 100 * time.Millisecond; o.FailClosed = true })
	vals := make([]tiered.BatchValue, 10)
	keys := make([]string, 10)
	for i := range vals {
		keys[i] = fmt.Sprint("k", i)
		vals[i] = tiered.BatchValue{Key: keys[i], Value: i}
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	// Fail-open: L1 gets the writes, Redis drops them (counted) and owes their deletes; the
	// caller is told Redis may hold older values; reads fall through to misses.
	if err := open.SetMany(ctx, vals, tiered.ShortTerm); !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Fatalf("fail-open SetMany: %v", err)
	}
	if st := open.Stats(); st.Tiers[1].Owed != 10 {
		t.Fatalf("owed %d", st.Tiers[1].Owed)
	}
	if st := open.Stats(); st.Tiers[1].DroppedWrites != 10 {
		t.Fatalf("dropped writes %d", st.Tiers[1].DroppedWrites)
	}
	got, err := tiered.GetMany[int](ctx, open, append(keys, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if !got[3].Found || got[3].Tier != 0 || got[10].Found {
		t.Fatalf("fail-open reads: %+v", got)
	}
	// Fail-closed: the caller hears about it.
	if err := closed.SetMany(ctx, vals, tiered.ShortTerm); !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Fatalf("fail-closed SetMany: %v", err)
	}
	if _, err := tiered.GetMany[int](context.Background(), closed, []string{"other"}); !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Fatalf("fail-closed GetMany: %v", err)
	}
}
