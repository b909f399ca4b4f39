package tiered_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

type User struct {
	ID   int64
	Name string
}

// The embedded default: one in-process L1. Load calls the loader once and serves the rest from L1.
func ExampleLoad() {
	cache, err := tiered.New(tiered.Options{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	ctx := context.Background()
	for i := 0; i < 3; i++ {
		u, err := tiered.Load(ctx, cache, "user:42", tiered.ShortTerm, func(ctx context.Context) (User, error) {
			fmt.Println("loading user 42")
			return User{ID: 42, Name: "Ada"}, nil
		})
		if err != nil {
			panic(err)
		}
		fmt.Println(u.Name)
	}
	s := cache.Stats()
	fmt.Printf("requests=%d hits=%d loads=%d\n", s.Requests, s.Hits, s.Loads)
	// Output:
	// loading user 42
	// Ada
	// Ada
	// Ada
	// requests=3 hits=2 loads=1
}

// Two tiers: otter in process, Redis shared between instances. Give the go-redis client
// ContextTimeoutEnabled so the tier's Timeout bounds each call.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()

	l1, err := ottertier.New(ottertier.Options{MaxBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer l1.Close()
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		panic(err)
	}
	cache, err := tiered.New(tiered.Options{
		Namespace: "myapp:v1:",
		Tiers: []tiered.Tier{
			{Backend: l1},
			{Backend: l2, Timeout: 50 * time.Millisecond},
		},
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	fmt.Println(len(cache.Tiers()), "tiers")
	// Output: 2 tiers
}

// A "not found" is cached too when the strategy has a negative TTL.
func ExampleStrategy_WithNegativeTTL() {
	cache, _ := tiered.New(tiered.Options{})
	defer cache.Close()
	s := tiered.ShortTerm.WithNegativeTTL(30 * time.Second)
	for i := 0; i < 2; i++ {
		_, err := tiered.Load(context.Background(), cache, "user:0", s, func(ctx context.Context) (User, error) {
			fmt.Println("query")
			return User{}, tiered.ErrNotFound
		})
		fmt.Println(err)
	}
	// Output:
	// query
	// tiered: not found
	// tiered: not found
}
