package tiered_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// Tags group entries so that one call removes them all, from every tier.
func ExampleCache_InvalidateTags() {
	ctx := context.Background()
	cache, err := tiered.New(tiered.Options{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	_ = cache.Set(ctx, "product:1", "lamp", tiered.Default, tiered.Tags("catalog"))
	_ = cache.Set(ctx, "product:2", "desk", tiered.Default, tiered.Tags("catalog", "furniture"))
	_ = cache.Set(ctx, "user:1", "ada", tiered.Default)

	_ = cache.InvalidateTags(ctx, "catalog")

	_, product, _ := tiered.Get[string](ctx, cache, "product:2")
	_, user, _ := tiered.Get[string](ctx, cache, "user:1")
	fmt.Println(product, user)
	// Output: false true
}

// Patterns use Redis's glob syntax on every tier.
func ExampleCache_InvalidatePattern() {
	ctx := context.Background()
	cache, err := tiered.New(tiered.Options{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	for _, k := range []string{"user:1", "user:2", "user:admin", "group:1"} {
		_ = cache.Set(ctx, k, k, tiered.Default)
	}

	_ = cache.InvalidatePattern(ctx, "user:[0-9]*")

	for _, k := range []string{"user:1", "user:2", "user:admin", "group:1"} {
		_, found, _ := tiered.Get[string](ctx, cache, k)
		fmt.Println(k, found)
	}
	// Output:
	// user:1 false
	// user:2 false
	// user:admin true
	// group:1 true
}

// Two instances of a service share Redis; the bus keeps their in-process L1s coherent.
func ExampleBus() {
	ctx := context.Background()
	// A throwaway redis-server for the example; a service passes its own client.
	srv, err := redistest.New(redistest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()

	var l1s []*ottertier.Backend // each instance has its own L1, closed after the caches
	defer func() {
		for _, l1 := range l1s {
			l1.Close()
		}
	}()
	newInstance := func() *tiered.Cache {
		l1, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
		if err != nil {
			panic(err)
		}
		l1s = append(l1s, l1)
		l2, err := redistier.New(rdb, redistier.Options{})
		if err != nil {
			panic(err)
		}
		bus, err := redistier.NewBus(rdb, redistier.BusOptions{Channel: "shop:" + redistier.DefaultBusChannel})
		if err != nil {
			panic(err)
		}
		c, err := tiered.New(tiered.Options{
			Tiers:     []tiered.Tier{{Backend: l1}, {Backend: l2}},
			Namespace: "shop:",
			Bus:       bus, // Redis Pub/Sub on the channel "shop:strata:invalidate"
		})
		if err != nil {
			panic(err)
		}
		return c
	}
	a, b := newInstance(), newInstance()
	defer a.Close()
	defer b.Close()

	price, _ := tiered.Load(ctx, b, "price:42", tiered.MediumTerm, func(context.Context) (int, error) { return 100, nil })
	fmt.Println("b caches", price)

	// a changes the price: Redis is written once, b's L1 copy is replaced through the bus.
	_ = a.Update(ctx, "price:42", 120, tiered.MediumTerm)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if price, _, _ = tiered.Get[int](ctx, b, "price:42"); price == 120 {
			break
		}
	}
	fmt.Println("b now serves", price, "from L1:", b.Stats().Tiers[0].Hits > 0)
	// Output:
	// b caches 100
	// b now serves 120 from L1: true
}
