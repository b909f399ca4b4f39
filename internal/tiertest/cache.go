package tiertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// runCache checks the backend through tiered.Cache instances. tierFor returns the backend under
// test placed as a tier (a new backend for each call; for a value backend each call shares
// nothing, so tests that need two caches on one store reuse one tier).
func runCache(t *testing.T, h Harness, tierFor func(t *testing.T) tiered.Tier) {
	t.Run("EnvelopeRoundTrip", func(t *testing.T) { cacheRoundTrip(t, tierFor(t)) })
	t.Run("RemainingTTLSurvivesPromotion", func(t *testing.T) { cachePromotion(t, tierFor(t)) })
	t.Run("CorruptEntryIsAMiss", func(t *testing.T) { cacheCorrupt(t, tierFor(t)) })
	t.Run("Batch", func(t *testing.T) { cacheBatch(t, tierFor(t)) })
}

// l1 returns a fresh in-process tier, closed when t ends.
func l1(t *testing.T) (*ottertier.Backend, tiered.Tier) {
	t.Helper()
	b, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, tiered.Tier{Backend: b}
}

// cacheRoundTrip writes values of several shapes through one cache and reads them through
// another on the same store, so that what is read comes from the backend, not from memory.
func cacheRoundTrip(t *testing.T, tier tiered.Tier) {
	ctx := context.Background()
	ns := namespace(t)
	w := newCache(t, ns, tiered.Options{CompressAbove: 256}, tier)
	r := newCache(t, ns, tiered.Options{CompressAbove: 256}, tier)

	small := newValue("small", 1, 1)
	large := newValue("large", 1, 2)
	large.Text = strings.Repeat("compressible text ", 200)
	large.Digest = digest(large)
	s := tiered.Custom(time.Hour).WithStale(30 * time.Minute)
	before := time.Now().UnixNano()
	if err := w.Set(ctx, "small", small, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Set(ctx, "large", large, tiered.Custom(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := w.Set(ctx, "list", []string{"a", "ü", ""}, tiered.Custom(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	_, err := tiered.Load(ctx, w, "absent", tiered.Custom(time.Hour).WithNegativeTTL(time.Hour), func(context.Context) (Value, error) {
		return Value{}, tiered.ErrNotFound
	})
	if !errors.Is(err, tiered.ErrNotFound) {
		t.Fatalf("negative load = %v", err)
	}

	got, err := tiered.GetMany[Value](ctx, r, []string{"small", "large"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Value{small, large} {
		e := got[i]
		if !e.Found || e.Value.check(want.Key) != nil || e.Value.Text != want.Text {
			t.Fatalf("%s read back as %+v; writer's tiers %+v, reader's %+v", want.Key, e, w.Stats().Tiers, r.Stats().Tiers)
		}
	}
	// The lifetime travels with the entry: fresh for an hour, then stale for half an hour. A
	// reader with an L1 above the backend keeps its copy until then.
	top, l1Tier := l1(t)
	if _, found, err := tiered.Get[Value](ctx, newCache(t, ns, tiered.Options{CompressAbove: 256}, l1Tier, tier), "small"); !found || err != nil {
		t.Fatalf("small read through an L1: %v %v", found, err)
	}
	expiresBetween(t, top, "small", before+int64(90*time.Minute), after+int64(90*time.Minute))
	list, found, err := tiered.Get[[]string](ctx, r, "list")
	if !found || err != nil || len(list) != 3 || list[1] != "ü" {
		t.Fatalf("list read back as %q %v %v", list, found, err)
	}
	_, err = tiered.Load(ctx, r, "absent", tiered.Custom(time.Hour).WithNegativeTTL(time.Hour), func(context.Context) (Value, error) {
		return Value{}, errors.New("the loader ran: the cached \"not found\" was not read back")
	})
	if !errors.Is(err, tiered.ErrNotFound) {
		t.Fatalf("negative entry read back as %v", err)
	}
	if s := r.Stats(); s.Corrupt != 0 || s.Loads != 0 {
		t.Fatalf("reader stats: %+v", s)
	}
}

// cachePromotion reads an entry written by another cache through an L1 above the backend: the
// copy in L1 keeps the entry's remaining lifetime, not a new TTL.
func cachePromotion(t *testing.T, tier tiered.Tier) {
	ctx := context.Background()
	ns := namespace(t)
	w := newCache(t, ns, tiered.Options{}, tier)
	before := time.Now().UnixNano()
	if err := w.Set(ctx, "k", newValue("k", 0, 0), tiered.Custom(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	// Let time pass, so that a promotion with a new TTL would show (beyond expiresBetween's slack).
	time.Sleep(4 * expirySlack)
	top, l1Tier := l1(t)
	r := newCache(t, ns, tiered.Options{}, l1Tier, tier)
	if v, found, err := tiered.Get[Value](ctx, r, "k"); !found || err != nil || v.check("k") != nil {
		t.Fatalf("Get = %v %v %+v", found, err, v)
	}
	if s := r.Stats(); s.Tiers[1].Hits != 1 || s.Promotions != 1 {
		t.Fatalf("the read was not answered by the backend and promoted: %+v", s.Tiers)
	}
	expiresBetween(t, top, "k", before+int64(time.Hour), after+int64(time.Hour))
}

// expirySlack is how far the end of an L1 copy, read from otter, may lie from the entry's end:
// otter counts from the wall clock at its start plus the monotonic clock since, which drift
// apart by milliseconds, and it stamps an entry a moment after the cache computed its TTL.
const expirySlack = 50 * time.Millisecond

// expiresBetween checks that the L1 copy of key ends between lo and hi (Unix ns), give or take
// expirySlack.
func expiresBetween(t *testing.T, top *ottertier.Backend, key string, lo, hi int64) {
	t.Helper()
	t0 := time.Now().UnixNano()
	left, ok := top.ExpiresAfter(key)
	t1 := time.Now().UnixNano()
	if !ok {
		t.Fatalf("%s was not promoted to L1", key)
	}
	// The copy ends at t+left for some t in [t0, t1].
	const slack = int64(expirySlack)
	if t1+int64(left) < lo-slack || t0+int64(left) > hi+slack {
		t.Fatalf("the L1 copy of %s ends in [%d, %d]; the entry ends in [%d, %d], not later, not earlier",
			key, t0+int64(left), t1+int64(left), lo, hi)
	}
}

// cacheCorrupt writes what is not an entry of the cache directly into the backend, and expects a
// miss (never an error or a panic), the bad entry counted and removed, and the key usable again.
func cacheCorrupt(t *testing.T, tier tiered.Tier) {
	ctx := context.Background()
	ns := namespace(t)
	c := newCache(t, ns, tiered.Options{}, tier)
	var bad []any
	switch b := tier.Backend.(type) {
	case tiered.ByteBackend:
		// A valid entry, written by the cache, to cut short and to extend.
		if err := c.Set(ctx, "valid", newValue("valid", 0, 0), tiered.Custom(time.Hour)); err != nil {
			t.Fatal(err)
		}
		valid, ok, err := b.Get(ctx, ns+"valid")
		if !ok || err != nil || len(valid) < 2 {
			t.Fatalf("the cache's entry is not in the backend: %v %v", ok, err)
		}
		rng := rand.New(rand.NewPCG(5, 6))
		random := func(n int) []byte {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			return p
		}
		bad = []any{
			[]byte{},
			[]byte("x"),
			[]byte(`{"Key":"k"}`),
			random(64),
			random(4096),
			valid[:len(valid)-1],
			valid[:len(valid)/2],
			append(append([]byte(nil), valid...), "trailing garbage"...),
		}
	case tiered.ValueBackend:
		bad = []any{"not an entry", 42, []byte("bytes"), nil, struct{}{}}
	}
	for i, junk := range bad {
		key := fmt.Sprintf("bad%d", i)
		switch b := tier.Backend.(type) {
		case tiered.ByteBackend:
			if err := b.Set(ctx, ns+key, junk.([]byte), time.Hour); err != nil {
				t.Fatal(err)
			}
		case tiered.ValueBackend:
			b.Set(key, junk, time.Hour)
		}
		var found bool
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("entry %d: Get panicked: %v", i, p)
				}
			}()
			_, found, err = tiered.Get[Value](ctx, c, key)
		}()
		if found || err != nil {
			t.Fatalf("entry %d (%T): Get = %v %v; want a miss", i, junk, found, err)
		}
		got, err := tiered.GetMany[Value](ctx, c, []string{key})
		if err != nil || got[0].Found {
			t.Fatalf("entry %d: GetMany = %+v %v; want a miss", i, got, err)
		}
		loaded, err := tiered.Load(ctx, c, key, tiered.Custom(time.Hour), func(context.Context) (Value, error) {
			return newValue(key, 0, i), nil
		})
		if err != nil || loaded.check(key) != nil {
			t.Fatalf("entry %d: Load after the bad entry = %+v %v", i, loaded, err)
		}
		if again, found, err := tiered.Get[Value](ctx, newCache(t, ns, tiered.Options{}, tier), key); !found || err != nil || again.Seq != i {
			t.Fatalf("entry %d: the loaded value did not replace the bad entry: %v %v %+v", i, found, err, again)
		}
	}
	if _, isByte := tier.Backend.(tiered.ByteBackend); isByte {
		if s := c.Stats(); s.Corrupt < uint64(len(bad)) {
			t.Fatalf("%d bad entries, %d counted corrupt", len(bad), s.Corrupt)
		}
	}
}

// cacheBatch writes and reads many keys at once through caches on the backend, whether it
// offers batch operations (one call) or not (the cache falls back to one call per key).
func cacheBatch(t *testing.T, tier tiered.Tier) {
	ctx := context.Background()
	ns := namespace(t)
	w := newCache(t, ns, tiered.Options{}, tier)
	var entries []tiered.BatchValue
	var keys []string
	for i := range 50 {
		k := fmt.Sprintf("m%d", i)
		if i%10 == 9 {
			k += " with a space and a long tail " + strings.Repeat("~", 260)
		}
		keys = append(keys, k)
		entries = append(entries, tiered.BatchValue{Key: k, Value: newValue(k, 0, i)})
	}
	entries = append(entries, tiered.BatchValue{Key: "absent", NotFound: true})
	if err := w.SetMany(ctx, entries, tiered.Custom(time.Hour).WithNegativeTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := newCache(t, ns, tiered.Options{}, tier)
	got, err := tiered.GetMany[Value](ctx, r, append(keys, "absent", "never-written"))
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if !got[i].Found || got[i].Value.check(k) != nil || got[i].Value.Seq != i {
			t.Fatalf("GetMany[%d] = %+v", i, got[i])
		}
	}
	if n := len(keys); !got[n].Negative || got[n+1].Found || got[n+1].Negative {
		t.Fatalf("GetMany tail = %+v", got[n:])
	}
	if err := r.Invalidate(ctx, keys[:10]...); err != nil {
		t.Fatal(err)
	}
	got, err = tiered.GetMany[Value](ctx, w, keys[:12])
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.Found != (i >= 10) {
			t.Fatalf("after deleting 10 keys, GetMany[%d].Found = %v", i, e.Found)
		}
	}
}
