package tiered_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

type user struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type product struct {
	SKU   string `json:"sku"`
	Price int    `json:"price"`
}

// TestTypesAcrossInstances: one key read with another Go type than the writer's — a rolling deploy
// that changed a struct, another service on the same Redis — is a miss for that reader, counted,
// never a zero-valued hit, and the writer's entry is neither deleted nor overwritten.
func TestTypesAcrossInstances(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	ctx := context.Background()
	instance := func() *tiered.Cache {
		return newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}}})
	}
	a, b, c := instance(), instance(), instance()
	if err := a.Set(ctx, "k", user{ID: 1, Name: "ann"}, tiered.Default); err != nil {
		t.Fatal(err)
	}
	stored, err := rdb.Get(ctx, ns+"k").Bytes()
	if err != nil {
		t.Fatal(err)
	}

	// b loads a product under the same key: a miss, its loader runs, its caller gets a product.
	loads := 0
	p, err := tiered.Load(ctx, b, "k", tiered.Default, func(context.Context) (product, error) {
		loads++
		return product{SKU: "x", Price: 9}, nil
	})
	if err != nil || loads != 1 || p.SKU != "x" {
		t.Fatalf("Load[product] on a user entry = %+v, %v (loads %d); want a load", p, err, loads)
	}
	if s := b.Stats(); s.TypeMismatches != 1 || s.Misses != 1 {
		t.Fatalf("b's stats %+v, want one miss counted as a type mismatch", s)
	}
	// A string reader too.
	if s, err := tiered.Load(ctx, c, "k", tiered.Default, func(context.Context) (string, error) { return "text", nil }); err != nil || s != "text" {
		t.Fatalf("Load[string] = %q, %v", s, err)
	}
	// Get promises ErrTypeMismatch.
	if _, found, err := tiered.Get[product](ctx, instance(), "k"); found || !errors.Is(err, tiered.ErrTypeMismatch) {
		t.Fatalf("Get[product] = %v, %v; want ErrTypeMismatch", found, err)
	}
	// The user entry is still in Redis, byte for byte, and a user reader finds it.
	if again, err := rdb.Get(ctx, ns+"k").Bytes(); err != nil || string(again) != string(stored) {
		t.Fatalf("the writer's entry changed or went: %v", err)
	}
	u, found, err := tiered.Get[user](ctx, instance(), "k")
	if err != nil || !found || u.Name != "ann" {
		t.Fatalf("Get[user] from Redis = %+v %v %v", u, found, err)
	}
	// The other types stay in their instances' L1, where their readers find them.
	if p, found, err := tiered.Get[product](ctx, b, "k"); err != nil || !found || p.SKU != "x" {
		t.Fatalf("b's own L1 = %+v %v %v", p, found, err)
	}
}

// TestChangedStructIsAnotherType: a struct whose exported fields changed between versions of a
// service — same name, same package — reads the old entries as misses.
func TestChangedStructIsAnotherType(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	ctx := context.Background()
	old := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
	cur := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
	{
		type Item struct {
			ID int `json:"id"`
		}
		if err := old.Set(ctx, "item", Item{ID: 1}, tiered.Default); err != nil {
			t.Fatal(err)
		}
	}
	type Item struct {
		ID    int    `json:"id"`
		Owner string `json:"owner"` // added in the new version
	}
	if _, found, err := tiered.Get[Item](ctx, cur, "item"); found || !errors.Is(err, tiered.ErrTypeMismatch) {
		t.Fatalf("new version reads the old entry: found=%v err=%v", found, err)
	}
}
