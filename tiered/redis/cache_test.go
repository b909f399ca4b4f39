package redistier_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// TestNewCache: one call gives an L1 over Redis with the bus on, and two instances stay
// coherent; Close releases what NewCache built and leaves the client to its owner.
func TestNewCache(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	ns := fmt.Sprintf("newcache:%d:", time.Now().UnixNano())
	rdb := srv.Client(t)
	a, err := redistier.NewCache(rdb, tiered.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	b, err := redistier.NewCache(rdb, tiered.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if tiers := a.Tiers(); len(tiers) != 2 || tiers[0].Name != "otter" || tiers[1].Name != "redis" {
		t.Fatalf("tiers %+v", tiers)
	}
	if !a.Stats().Invalidation.Subscribed {
		t.Fatal("bus not subscribed")
	}
	load := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	if v, err := tiered.Load(ctx, b, "k", tiered.Default, load(1)); err != nil || v != 1 {
		t.Fatalf("b loads %d, %v", v, err)
	}
	if err := a.Update(ctx, "k", 2, tiered.Default); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _, _ := tiered.Get[int](ctx, b, "k")
		if v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never saw a's update")
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The client is still the caller's, and open.
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("the client was closed with the cache: %v", err)
	}
	// NewCache builds the tiers itself.
	l1, _ := ottertier.New(ottertier.Options{})
	defer l1.Close()
	if _, err := redistier.NewCache(rdb, tiered.Options{Tiers: []tiered.Tier{{Backend: l1}}}); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("NewCache with tiers: %v", err)
	}
	if _, err := redistier.NewCache(nil, tiered.Options{}); !errors.Is(err, redistier.ErrNilClient) {
		t.Fatalf("NewCache without a client: %v", err)
	}
}

// The common case, in one call: an L1 over Redis, every instance's L1 kept coherent over Pub/Sub.
func ExampleNewCache() {
	srv, err := redistest.New(redistest.Options{}) // a throwaway redis-server for the example
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close() // the client is yours: close it after the cache

	cache, err := redistier.NewCache(rdb, tiered.Options{Namespace: "shop:"})
	if err != nil {
		panic(err)
	}
	defer cache.Close() // closes the L1 it built

	price, err := tiered.Load(context.Background(), cache, "price:42", tiered.MediumTerm, func(context.Context) (int, error) {
		return 120, nil // the database
	})
	fmt.Println(price, err)
	// Output: 120 <nil>
}
