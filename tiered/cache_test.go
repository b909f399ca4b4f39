package tiered_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

func TestEmbeddedDefault(t *testing.T) {
	c := newCache(t, tiered.Options{})
	ctx := context.Background()
	if got := c.Tiers(); len(got) != 1 || got[0].Name != "otter" {
		t.Fatalf("default tiers = %+v, want one otter L1", got)
	}
	var calls atomic.Int64
	for i := 0; i < 3; i++ {
		v, err := tiered.Load(ctx, c, "k", tiered.ShortTerm, countingLoader(&calls, newPayload(1), 0))
		if err != nil || v.ID != 1 {
			t.Fatalf("Load = %+v, %v", v, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", calls.Load())
	}
	s := c.Stats()
	if s.Requests != 3 || s.Hits != 2 || s.Misses != 1 || s.Loads != 1 {
		t.Fatalf("stats = %+v", s)
	}
	checkInvariant(t, s)
}

func TestStrategies(t *testing.T) {
	want := map[string]time.Duration{"realtime": 10 * time.Second, "short": 5 * time.Minute, "medium": time.Hour, "long": 3 * time.Hour, "default": 5 * time.Minute}
	for _, s := range []tiered.Strategy{tiered.RealTime, tiered.ShortTerm, tiered.MediumTerm, tiered.LongTerm, tiered.Default} {
		if s.TTL != want[s.Name()] {
			t.Errorf("%s TTL = %v, want %v", s.Name(), s.TTL, want[s.Name()])
		}
	}
	if c := tiered.Custom(42 * time.Second); c.TTL != 42*time.Second || c.Name() != "custom" {
		t.Errorf("Custom = %+v", c)
	}
	bad := []tiered.Strategy{
		{TTL: -1}, {TTL: time.Second, Stale: -1}, {TTL: time.Second, Jitter: 1.5}, {TTL: time.Second, NegativeTTL: -1},
		{TTL: time.Second, StaleIfError: -1}, {TTL: time.Second, RefreshAhead: -1}, {TTL: time.Second, RefreshAhead: time.Second},
		// A strategy with windows but no TTL would cache nothing: refused, not silently ignored.
		{Stale: time.Minute}, tiered.Custom(0), tiered.Custom(-time.Second),
	}
	c := newCache(t, tiered.Options{})
	for _, s := range bad {
		if err := c.Set(context.Background(), "k", 1, s); !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Errorf("Set with %+v: err = %v, want ErrInvalidOptions", s, err)
		}
		if _, err := tiered.Load(context.Background(), c, "k2", s, func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Errorf("Load with %+v: err = %v, want ErrInvalidOptions", s, err)
		}
	}
	if err := (tiered.Strategy{}).Validate(); err != nil {
		t.Errorf("the zero Strategy (the cache's default) is invalid: %v", err)
	}
}

func TestJitterShortensTTL(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	c := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
	ctx := context.Background()
	s := tiered.Custom(100 * time.Second).WithJitter(0.5)
	seen := map[int64]bool{}
	for i := 0; i < 20; i++ {
		key := "j" + string(rune('a'+i))
		if err := c.Set(ctx, key, i, s); err != nil {
			t.Fatal(err)
		}
		ttl := rdb.PTTL(ctx, ns+key).Val()
		if ttl < 49*time.Second || ttl > 100*time.Second {
			t.Fatalf("jittered TTL %v outside [50s, 100s]", ttl)
		}
		seen[int64(ttl/time.Second)] = true
	}
	if len(seen) < 3 {
		t.Fatalf("jitter produced only %d distinct TTLs", len(seen))
	}
}

func TestOptionsValidation(t *testing.T) {
	l1 := newL1(t)
	cases := map[string]tiered.Options{
		"nil backend":      {Tiers: []tiered.Tier{{}}},
		"negative scale":   {Tiers: []tiered.Tier{{Backend: l1, TTLScale: -1}}},
		"huge scale":       {Tiers: []tiered.Tier{{Backend: l1, TTLScale: 1e9}}},
		"negative timeout": {Tiers: []tiered.Tier{{Backend: l1, Timeout: -time.Second}}},
		"not a backend":    {Tiers: []tiered.Tier{{Backend: nameOnly{}}}},
		"bad default":      {DefaultStrategy: tiered.Strategy{TTL: -time.Second}},
		"load timeout":     {LoadTimeout: -1},
		"refresh backoff":  {RefreshBackoff: -1},
		"compress":         {CompressAbove: -1},
		"breaker":          {Breaker: tiered.BreakerOptions{Failures: -1}},
	}
	for name, o := range cases {
		if _, err := tiered.New(o); !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Errorf("%s: err = %v, want ErrInvalidOptions", name, err)
		}
	}
	if _, err := ottertier.New(ottertier.Options{MaxEntries: 1, MaxBytes: 1}); !errors.Is(err, ottertier.ErrInvalidOptions) {
		t.Errorf("otter with both bounds: err = %v", err)
	}
}

type nameOnly struct{}

func (nameOnly) Name() string { return "nothing" }

func TestSetGetInvalidate(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	c := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}}})
	ctx := context.Background()

	if err := c.Set(ctx, "p", newPayload(7), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	// Redis holds the namespaced key, the value in CBOR (the default codec) after the 56-byte
	// header.
	raw, err := rdb.Get(ctx, ns+"p").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var stored Payload
	if err := cbor.Unmarshal(raw[56:], &stored); err != nil || stored.Name != "payload-7" {
		t.Fatalf("stored payload is not the CBOR value: %q (%v)", raw[56:], err)
	}
	v, found, err := tiered.Get[Payload](ctx, c, "p")
	if err != nil || !found || v.ID != 7 {
		t.Fatalf("Get = %+v, %v, %v", v, found, err)
	}
	if err := c.Invalidate(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, ns+"p").Val(); n != 0 {
		t.Fatalf("key still in Redis after Invalidate")
	}
	if _, found, err := tiered.Get[Payload](ctx, c, "p"); found || err != nil {
		t.Fatalf("Get after Invalidate: found=%v err=%v", found, err)
	}
	if err := c.Set(ctx, "", 1, tiered.ShortTerm); !errors.Is(err, tiered.ErrEmptyKey) {
		t.Fatalf("empty key: err = %v", err)
	}
}

func TestTypeMismatchInL1FallsThrough(t *testing.T) {
	c := newCache(t, tiered.Options{})
	ctx := context.Background()
	if err := c.Set(ctx, "k", "a string", tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	_, found, err := tiered.Get[int](ctx, c, "k")
	if found || !errors.Is(err, tiered.ErrTypeMismatch) {
		t.Fatalf("Get[int] of a string: found=%v err=%v, want ErrTypeMismatch", found, err)
	}
	v, err := tiered.Load(ctx, c, "k", tiered.ShortTerm, func(context.Context) (int, error) { return 5, nil })
	if err != nil || v != 5 {
		t.Fatalf("Load[int] = %v, %v", v, err)
	}
}

// TestPromotionThroughThreeTiers checks that a hit in L3 is promoted into L2 and L1 with its exact
// remaining lifetime, rescaled from L3's TTLScale to theirs, and that writes scale per tier.
func TestPromotionThroughThreeTiers(t *testing.T) {
	srv := redistest.Shared(t)
	db0, db1 := srv.Client(t, 0), srv.Client(t, 1)
	ns := namespace(t)
	l1 := newL1(t)
	l2 := newL2(t, db0, "redis-db0")
	l3 := newL2(t, db1, "redis-db1")
	c := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{
		{Backend: l1, TTLScale: 0.5},
		{Backend: l2},
		{Backend: l3, TTLScale: 2},
	}})
	ctx := context.Background()

	// Writes: each tier keeps TTL × its scale.
	if err := c.Set(ctx, "w", newPayload(1), tiered.Custom(100*time.Second)); err != nil {
		t.Fatal(err)
	}
	within(t, "L1 write TTL", mustTTL(t, l1, "w"), 50*time.Second)
	within(t, "L2 write TTL", db0.PTTL(ctx, ns+"w").Val(), 100*time.Second)
	within(t, "L3 write TTL", db1.PTTL(ctx, ns+"w").Val(), 200*time.Second)

	// Plant an entry in L3 only (through a cache that has L3 alone), age it, then read.
	only3 := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: l3, TTLScale: 2}}})
	if err := only3.Set(ctx, "p", newPayload(2), tiered.Custom(100*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // 1.1 s of L3's 200 s gone: 98.9 s left in L3 units of the strategy... scaled below
	v, err := tiered.Load(ctx, c, "p", tiered.Custom(100*time.Second), func(context.Context) (Payload, error) {
		return Payload{}, errors.New("loader must not run on an L3 hit")
	})
	if err != nil || v.ID != 2 {
		t.Fatalf("Load = %+v, %v", v, err)
	}
	// L3 had 198.9 s left: L2 (scale 1) gets 99.45 s, L1 (scale 0.5) 49.7 s — not a fresh 100 s / 50 s.
	within(t, "L2 promoted TTL", db0.PTTL(ctx, ns+"p").Val(), 99450*time.Millisecond)
	within(t, "L1 promoted TTL", mustTTL(t, l1, "p"), 49725*time.Millisecond)
	s := c.Stats()
	if s.Tiers[2].Hits != 1 || s.Tiers[1].Promotions != 1 || s.Tiers[0].Promotions != 1 || s.Promotions != 2 {
		t.Fatalf("stats after L3 hit: %+v", s)
	}
	// The next read is an L1 hit.
	if _, err := tiered.Load(ctx, c, "p", tiered.ShortTerm, func(context.Context) (Payload, error) { return Payload{}, errors.New("no") }); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Tiers[0].Hits; got != 1 {
		t.Fatalf("L1 hits = %d, want 1", got)
	}
	checkInvariant(t, c.Stats())
}

func mustTTL(t *testing.T, l1 *ottertier.Backend, key string) time.Duration {
	t.Helper()
	d, ok := l1.ExpiresAfter(key)
	if !ok {
		t.Fatalf("%q not in L1", key)
	}
	return d
}

// within checks got is want minus at most 300 ms of test latency (and never above want).
func within(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got > want+10*time.Millisecond || got < want-300*time.Millisecond {
		t.Fatalf("%s = %v, want %v (-300ms)", what, got, want)
	}
}

// TestL2HitCountedOnce: an L2 hit must count as one request
// and one L2 hit, not also as an L1 hit or a second L2 hit.
func TestL2HitCountedOnce(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	writer := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}}})
	reader := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}}})
	ctx := context.Background()
	if err := writer.Set(ctx, "k", newPayload(1), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	if _, found, err := tiered.Get[Payload](ctx, reader, "k"); !found || err != nil {
		t.Fatalf("Get: %v %v", found, err)
	}
	s := reader.Stats()
	if s.Requests != 1 || s.Hits != 1 || s.Tiers[0].Hits != 0 || s.Tiers[1].Hits != 1 || s.Misses != 0 || s.Promotions != 1 {
		t.Fatalf("after one L2 hit: %+v", s)
	}
	if _, found, _ := tiered.Get[Payload](ctx, reader, "k"); !found {
		t.Fatal("second Get missed")
	}
	s = reader.Stats()
	if s.Requests != 2 || s.Tiers[0].Hits != 1 || s.Tiers[1].Hits != 1 {
		t.Fatalf("after L2 then L1 hit: %+v", s)
	}
	checkInvariant(t, s)
}

func TestNegativeCaching(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	errNoRows := errors.New("no rows")
	mk := func() *tiered.Cache {
		return newCache(t, tiered.Options{
			Namespace:  ns,
			Tiers:      []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}},
			IsNotFound: func(err error) bool { return errors.Is(err, errNoRows) },
		})
	}
	a, b := mk(), mk()
	ctx := context.Background()
	var calls atomic.Int64
	missing := func(context.Context) (Payload, error) { calls.Add(1); return Payload{}, errNoRows }
	s := tiered.ShortTerm.WithNegativeTTL(time.Minute)

	_, err := tiered.Load(ctx, a, "gone", s, missing)
	if !errors.Is(err, tiered.ErrNotFound) || !errors.Is(err, errNoRows) {
		t.Fatalf("first load: err = %v, want ErrNotFound wrapping the loader's error", err)
	}
	for _, c := range []*tiered.Cache{a, b} { // a from L1, b from Redis
		if _, err := tiered.Load(ctx, c, "gone", s, missing); !errors.Is(err, tiered.ErrNotFound) {
			t.Fatalf("cached miss: err = %v", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", calls.Load())
	}
	if a.Stats().NegativeHits != 1 || b.Stats().NegativeHits != 1 {
		t.Fatalf("negative hits: a=%d b=%d", a.Stats().NegativeHits, b.Stats().NegativeHits)
	}
	if ttl := rdb.PTTL(ctx, ns+"gone").Val(); ttl > time.Minute || ttl < 55*time.Second {
		t.Fatalf("negative entry TTL = %v, want the 1m NegativeTTL", ttl)
	}

	// Without NegativeTTL nothing is cached; other errors never are.
	boom := errors.New("boom")
	calls.Store(0)
	for i := 0; i < 3; i++ {
		_, _ = tiered.Load(ctx, a, "nocache", tiered.ShortTerm, missing)
		_, err := tiered.Load(ctx, a, "err", s, func(context.Context) (Payload, error) { calls.Add(1); return Payload{}, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
	}
	if calls.Load() != 6 {
		t.Fatalf("loader ran %d times, want 6 (nothing cached)", calls.Load())
	}
}

func TestStaleWhileRefresh(t *testing.T) {
	c := newCache(t, tiered.Options{})
	ctx := context.Background()
	s := tiered.Custom(100 * time.Millisecond).WithStale(10 * time.Second)
	var calls atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // runs before the cache's Close
	load := func(ctx context.Context) (int, error) {
		n := calls.Add(1)
		if n > 1 {
			select {
			case <-release:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return int(n), nil
	}
	if v, err := tiered.Load(ctx, c, "k", s, load); err != nil || v != 1 {
		t.Fatalf("first load = %v, %v", v, err)
	}
	time.Sleep(150 * time.Millisecond)
	// Stale: every read returns the old value at once while exactly one refresh runs.
	for i := 0; i < 50; i++ {
		v, err := tiered.Load(ctx, c, "k", s, load)
		if err != nil || v != 1 {
			t.Fatalf("stale read = %v, %v", v, err)
		}
	}
	// The one refresh starts on its own goroutine: wait for it, then check no second one started.
	for deadline := time.Now().Add(5 * time.Second); calls.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		if v, err := tiered.Load(ctx, c, "k", s, load); err != nil || v != 1 {
			t.Fatalf("stale read = %v, %v", v, err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("loader ran %d times during the stale window, want 2", calls.Load())
	}
	once.Do(func() { close(release) })
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := tiered.Load(ctx, c, "k", s, load)
		if v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("refreshed value never served")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := c.Stats(); st.StaleServes < 50 {
		t.Fatalf("stale serves = %d, want >= 50", st.StaleServes)
	}
}

func TestCompression(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	mk := func() *tiered.Cache {
		return newCache(t, tiered.Options{Namespace: ns, CompressAbove: 256, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}}})
	}
	a, b := mk(), mk()
	ctx := context.Background()
	if err := a.Set(ctx, "big", newPayload(9), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	raw := rdb.Get(ctx, ns+"big").Val()
	if len(raw) > 400 || raw[3]&2 == 0 {
		t.Fatalf("stored entry not compressed: %d bytes, flags %#x", len(raw), raw[3])
	}
	v, found, err := tiered.Get[Payload](ctx, b, "big")
	if err != nil || !found || v.Body != newPayload(9).Body {
		t.Fatalf("Get of compressed entry = %v, %v", found, err)
	}
}

func TestClosed(t *testing.T) {
	c, err := tiered.New(tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(context.Background(), "k", 1, tiered.ShortTerm); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if _, err := tiered.Load(context.Background(), c, "k", tiered.ShortTerm, func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
}

// TestByteBoundedL1 checks that an L1 bounded by bytes weighs entries by their encoded size even
// without a byte tier below it.
func TestByteBoundedL1(t *testing.T) {
	l1, err := ottertier.New(ottertier.Options{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	c := newCache(t, tiered.Options{Tiers: []tiered.Tier{{Backend: l1}}})
	for i := range 200 {
		if err := c.Set(context.Background(), fmt.Sprintf("p%d", i), newPayload(int64(i)), tiered.ShortTerm); err != nil {
			t.Fatal(err)
		}
	}
	// Each ~1 KiB payload weighs over 1 KiB, so 64 KiB holds at most ~60 of them.
	l1.CleanUp()
	if n := l1.Len(); n > 64 {
		t.Fatalf("L1 holds %d entries of ~1 KiB within a 64 KiB bound", n)
	}
}

// TestPromotionKeepsStoredBytes: a hit in a lower byte tier is promoted as it was stored (the
// same payload, the same type fingerprint), not as a re-encoding of the value this read decoded;
// and a reader of another, narrower type gets a miss that leaves the entry alone.
func TestPromotionKeepsStoredBytes(t *testing.T) {
	srv := redistest.Shared(t)
	db0, db1 := srv.Client(t, 0), srv.Client(t, 1)
	ns := namespace(t)
	l3 := newL2(t, db1, "redis-db1")
	only3 := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: l3}}})
	ctx := context.Background()
	if err := only3.Set(ctx, "p", newPayload(4), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	stored, err := db1.Get(ctx, ns+"p").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, db0, "redis-db0")}, {Backend: l3}}})
	type idOnly struct {
		ID int64 `json:"id"`
	}
	if v, found, err := tiered.Get[idOnly](ctx, c, "p"); found || !errors.Is(err, tiered.ErrTypeMismatch) {
		t.Fatalf("Get[idOnly] of a Payload = %+v, %v, %v; want ErrTypeMismatch", v, found, err)
	}
	if n := db0.Exists(ctx, ns+"p").Val(); n != 0 {
		t.Fatal("a reader of another type promoted the entry")
	}
	if again, _ := db1.Get(ctx, ns+"p").Bytes(); !bytes.Equal(again, stored) {
		t.Fatal("a reader of another type changed the entry")
	}
	if v, found, err := tiered.Get[Payload](ctx, c, "p"); !found || err != nil || v.ID != 4 {
		t.Fatalf("Get[Payload] = %+v, %v, %v", v, found, err)
	}
	l2, err := db0.Get(ctx, ns+"p").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// The promoted copy differs from the stored one only in its times (bytes 12 to 52).
	if len(l2) != len(stored) || !bytes.Equal(l2[:12], stored[:12]) || !bytes.Equal(l2[52:], stored[52:]) {
		t.Fatalf("L2 holds another encoding than L3:\n%q\n%q", l2, stored)
	}
}
