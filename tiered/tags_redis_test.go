package tiered_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// TestRedisTagIndexPruned: the per-tag sorted set keeps only live members and expires with them.
func TestRedisTagIndexPruned(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := busNamespace(t)
	c := newBusCache(t, rdb, ns, withoutBus)
	idx := ns + tiered.TagKeyPrefix + "hot"
	for i := range 50 {
		if err := c.Set(ctx, fmt.Sprint("short", i), i, tiered.Custom(500*time.Millisecond), tiered.Tags("hot")); err != nil {
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
	if err := c.Set(ctx, "long", 1, tiered.Custom(time.Minute), tiered.Tags("hot")); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.ZCard(ctx, idx).Result(); n != 1 {
		t.Fatalf("index holds %d members after the short ones expired, want 1", n)
	}
	if ttl, _ := rdb.PTTL(ctx, idx).Result(); ttl < 59*time.Second {
		t.Fatalf("index TTL %v not extended to the long entry", ttl)
	}
	// A re-write with a shorter TTL never shortens the set below a live member.
	if err := c.Set(ctx, "other", 1, tiered.Custom(time.Second), tiered.Tags("hot")); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := rdb.PTTL(ctx, idx).Result(); ttl < 59*time.Second {
		t.Fatalf("index TTL shortened to %v", ttl)
	}
	// Unused tags leave nothing behind.
	if err := c.Set(ctx, "gone", 1, tiered.Custom(20*time.Millisecond), tiered.Tags("cold")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if n, _ := rdb.Exists(ctx, ns+tiered.TagKeyPrefix+"cold").Result(); n != 0 {
		t.Fatal("an idle tag set outlived its entries")
	}
	// InvalidateTags without a bus removes from both tiers.
	if err := c.InvalidateTags(ctx, "hot"); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, ns+"long", ns+"other", idx).Result(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	if _, ok := tiered.L1Value(c, "long"); ok {
		t.Fatal("long survived in L1")
	}
}
