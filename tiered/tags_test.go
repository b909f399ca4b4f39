package tiered

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
)

func TestTagIndexBounded(t *testing.T) {
	x := newTagIndex(100)
	now := time.Now().UnixNano()
	for i := range 100 {
		if !x.add(fmt.Sprint("k", i), []string{"a"}, now+int64(time.Hour)) {
			t.Fatalf("add %d refused below the limit", i)
		}
	}
	if x.add("over", []string{"a"}, now+int64(time.Hour)) {
		t.Fatal("add accepted past the limit")
	}
	// Expired entries make room.
	y := newTagIndex(100)
	for i := range 100 {
		y.add(fmt.Sprint("k", i), []string{"a", "b"}[i%2:i%2+1], now+int64(time.Millisecond))
	}
	time.Sleep(2 * time.Millisecond)
	for i := range 100 {
		if !y.add(fmt.Sprint("n", i), []string{"c"}, now+int64(time.Hour)) {
			t.Fatalf("expired entries were not swept (n=%d)", y.len())
		}
	}
	if n := y.len(); n != 100 {
		t.Fatalf("index holds %d pairs, want 100", n)
	}
	if keys := y.take([]string{"a", "b"}); len(keys) != 0 {
		t.Fatalf("expired keys returned: %v", keys)
	}
	if keys := y.take([]string{"c"}); len(keys) != 100 || y.len() != 0 {
		t.Fatalf("take returned %d keys, left %d", len(keys), y.len())
	}
}

// TestTagOverflowKeepsOutOfL1: when the in-process index is full, a tagged entry stays out of L1
// instead of escaping InvalidateTags.
func TestTagOverflowKeepsOutOfL1(t *testing.T) {
	ctx := context.Background()
	c, err := New(Options{MaxTagEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set(ctx, k, 1, Default, Tags("t")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := c.l1.Get("c"); ok {
		t.Fatal("unindexed tagged entry kept in L1")
	}
	if s := c.InvalidationStats(); s.TagOverflow != 1 {
		t.Fatalf("stats %+v", s)
	}
	if err := c.InvalidateTags(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.l1.Get("a"); ok {
		t.Fatal("a survived InvalidateTags")
	}
}

// TestRedisTagIndexPruned: the per-tag sorted set keeps only live members and expires with them.
func TestRedisTagIndexPruned(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := busNamespace(t)
	c := newBusCache(t, rdb, ns, withoutBus)
	idx := ns + tagKeyPrefix + "hot"
	for i := range 50 {
		if err := c.Set(ctx, fmt.Sprint("short", i), i, Custom(500*time.Millisecond), Tags("hot")); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := rdb.ZCard(ctx, idx).Result(); n != 50 {
		t.Fatalf("index holds %d members, want 50", n)
	}
	if ttl, _ := rdb.PTTL(ctx, idx).Result(); ttl <= 0 || ttl > 500*time.Millisecond {
		t.Fatalf("index TTL %v, want the entries' 500ms", ttl)
	}
	time.Sleep(550 * time.Millisecond)
	if err := c.Set(ctx, "long", 1, Custom(time.Minute), Tags("hot")); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.ZCard(ctx, idx).Result(); n != 1 {
		t.Fatalf("index holds %d members after the short ones expired, want 1", n)
	}
	if ttl, _ := rdb.PTTL(ctx, idx).Result(); ttl < 59*time.Second {
		t.Fatalf("index TTL %v not extended to the long entry", ttl)
	}
	// A re-write with a shorter TTL never shortens the set below a live member.
	if err := c.Set(ctx, "other", 1, Custom(time.Second), Tags("hot")); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := rdb.PTTL(ctx, idx).Result(); ttl < 59*time.Second {
		t.Fatalf("index TTL shortened to %v", ttl)
	}
	// Unused tags leave nothing behind.
	if err := c.Set(ctx, "gone", 1, Custom(20*time.Millisecond), Tags("cold")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if n, _ := rdb.Exists(ctx, ns+tagKeyPrefix+"cold").Result(); n != 0 {
		t.Fatal("an idle tag set outlived its entries")
	}
	// InvalidateTags without a bus removes from both tiers.
	if err := c.InvalidateTags(ctx, "hot"); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, ns+"long", ns+"other", idx).Result(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	if _, ok := c.l1.Get("long"); ok {
		t.Fatal("long survived in L1")
	}
}
