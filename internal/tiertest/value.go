package tiertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
)

func valueBackend(t *testing.T, h Harness) tiered.ValueBackend {
	t.Helper()
	return h.New(t).(tiered.ValueBackend)
}

// runValue checks an in-process tier. It never blocks, so there is no timeout to check; it keeps
// items, not bytes, so there are no batch operations either.
func runValue(t *testing.T, h Harness) {
	t.Run("GetSetDelete", func(t *testing.T) { valueGetSetDelete(t, h) })
	t.Run("TTLHonoured", func(t *testing.T) { valueTTL(t, h) })
	t.Run("PatternAndClear", func(t *testing.T) { valuePattern(t, h) })
	t.Run("Concurrency", func(t *testing.T) { valueConcurrency(t, h) })
	t.Run("Cache", func(t *testing.T) {
		runCache(t, h, func(t *testing.T) tiered.Tier { return tiered.Tier{Backend: h.New(t)} })
	})
}

type token struct{ n int }

func valueGetSetDelete(t *testing.T, h Harness) {
	b := valueBackend(t, h)
	if v, ok := b.Get("k"); ok || v != nil {
		t.Fatalf("Get of a missing key = %v %v", v, ok)
	}
	a, c := &token{1}, &token{2}
	b.Set("k", a, time.Minute)
	if v, ok := b.Get("k"); !ok || v != a {
		t.Fatalf("Get = %v %v; want the item stored", v, ok)
	}
	b.Set("k", c, time.Minute)
	if v, _ := b.Get("k"); v != c {
		t.Fatalf("after overwrite: %v", v)
	}
	b.Set("k2", a, time.Minute)
	b.Delete()
	b.Delete("k", "missing", "k2")
	for _, k := range []string{"k", "k2"} {
		if _, ok := b.Get(k); ok {
			t.Fatalf("%s survived Delete", k)
		}
	}
}

func valueTTL(t *testing.T, h Harness) {
	b := valueBackend(t, h)
	ttl := ttlFor(h)
	b.Set("short", &token{1}, ttl)
	b.Set("long", &token{2}, time.Hour)
	if _, ok := b.Get("short"); !ok {
		t.Fatal("entry gone right after its write")
	}
	eventually(t, ttl+h.TTLResolution+5*time.Second, "the entry expires", func() bool {
		_, ok := b.Get("short")
		return !ok
	})
	if _, ok := b.Get("long"); !ok {
		t.Fatal("the long-lived entry went too")
	}
}

func valuePattern(t *testing.T, h Harness) {
	b := valueBackend(t, h)
	for _, k := range []string{"user:1", "user:2", "user:10", "order:1"} {
		b.Set(k, &token{}, time.Minute)
	}
	if pd, ok := b.(tiered.ValuePatternDeleter); ok {
		if n := pd.DeletePattern("user:?"); n != 2 {
			t.Fatalf("DeletePattern(user:?) = %d", n)
		}
		for k, want := range map[string]bool{"user:1": false, "user:2": false, "user:10": true, "order:1": true} {
			if _, ok := b.Get(k); ok != want {
				t.Fatalf("%s present = %v after DeletePattern(user:?)", k, ok)
			}
		}
	}
	if cl, ok := b.(tiered.Clearer); ok {
		if err := cl.Clear(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.Get("order:1"); ok {
			t.Fatal("Clear left an entry")
		}
	}
	// Through a cache, pattern invalidation works on any value tier (by pattern or by clearing).
	c := newCache(t, "", tiered.Options{}, tiered.Tier{Backend: b})
	ctx := context.Background()
	for _, k := range []string{"user:1", "order:1"} {
		if err := c.Set(ctx, k, newValue(k, 0, 0), tiered.Custom(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.InvalidatePattern(ctx, "user:*"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := tiered.Get[Value](ctx, c, "user:1"); found {
		t.Fatal("InvalidatePattern left user:1")
	}
}

func valueConcurrency(t *testing.T, h Harness) {
	b := valueBackend(t, h)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for i := range 2000 {
				k := fmt.Sprintf("k%d", rng.IntN(16))
				switch rng.IntN(4) {
				case 0:
					b.Set(k, newValue(k, w, i), time.Minute)
				case 1:
					b.Delete(k)
				default:
					if v, ok := b.Get(k); ok {
						if err := v.(Value).check(k); err != nil {
							errs <- err
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
