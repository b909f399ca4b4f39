package tiertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
)

func byteBackend(t *testing.T, h Harness) tiered.ByteBackend {
	t.Helper()
	return h.New(t).(tiered.ByteBackend)
}

func runByte(t *testing.T, h Harness) {
	t.Run("Capabilities", func(t *testing.T) { byteCapabilities(t, h) })
	t.Run("GetSetDelete", func(t *testing.T) { byteGetSetDelete(t, h) })
	t.Run("OddKeysAndValues", func(t *testing.T) { byteOddKeys(t, h) })
	t.Run("TTLHonoured", func(t *testing.T) { byteTTL(t, h) })
	t.Run("Batch", func(t *testing.T) { byteBatch(t, h) })
	t.Run("PatternAndClear", func(t *testing.T) { bytePattern(t, h) })
	t.Run("Concurrency", func(t *testing.T) { byteConcurrency(t, h) })
	t.Run("Timeouts", func(t *testing.T) { byteTimeouts(t, h) })
	t.Run("Cache", func(t *testing.T) {
		runCache(t, h, func(t *testing.T) tiered.Tier { return tiered.Tier{Backend: h.New(t), Timeout: relaxed} })
	})
}

func byteCapabilities(t *testing.T, h Harness) {
	b := byteBackend(t, h)
	_, batchGet := b.(tiered.BatchGetter)
	_, batchSet := b.(tiered.BatchSetter)
	_, pattern := b.(tiered.PatternDeleter)
	_, clear := b.(tiered.Clearer)
	_, tags := b.(tiered.TagIndexer)
	got := Caps{BatchGet: batchGet, BatchSet: batchSet, PatternDelete: pattern, Clear: clear, TagIndex: tags}
	if got != h.Caps {
		t.Fatalf("%s implements %+v, the harness expects %+v", b.Name(), got, h.Caps)
	}
	if b.Name() == "" {
		t.Fatal("empty Name")
	}
}

func byteGetSetDelete(t *testing.T, h Harness) {
	b := byteBackend(t, h)
	ctx := context.Background()
	ns := namespace(t)
	k1, k2 := ns+"k1", ns+"k2"
	if v, ok, err := b.Get(ctx, k1); v != nil || ok || err != nil {
		t.Fatalf("Get of a missing key = %q %v %v", v, ok, err)
	}
	data := []byte("first value")
	if err := b.Set(ctx, k1, data, time.Minute); err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXX") // the backend must not keep the caller's buffer
	if v, ok, err := b.Get(ctx, k1); !ok || err != nil || string(v) != "first value" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
	if err := b.Set(ctx, k1, []byte("second"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := b.Get(ctx, k1); string(v) != "second" {
		t.Fatalf("after overwrite: %q", v)
	}
	v, _, _ := b.Get(ctx, k1)
	copy(v, "??????") // nor hand out a buffer it reuses
	if v, _, _ := b.Get(ctx, k1); string(v) != "second" {
		t.Fatalf("a returned slice aliases the store: %q", v)
	}
	if err := b.Set(ctx, k2, []byte("other"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx); err != nil {
		t.Fatalf("Delete of no keys: %v", err)
	}
	if err := b.Delete(ctx, k1, ns+"missing", k2); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{k1, k2} {
		if _, ok, err := b.Get(ctx, k); ok || err != nil {
			t.Fatalf("%s after Delete: %v %v", k, ok, err)
		}
	}
}

func byteOddKeys(t *testing.T, h Harness) {
	b := byteBackend(t, h)
	ctx := context.Background()
	ns := namespace(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 512<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	entries := []struct {
		key  string
		data []byte
	}{
		{ns + "a b", []byte("space")},
		{ns + "a_b", []byte("underscore")},
		{ns + "line\nbreak\r\n", []byte("newline")},
		{ns + "ünïcødé ✓", []byte("unicode")},
		{ns + strings.Repeat("long", 100), []byte("400-byte key")},
		{ns + strings.Repeat("long", 100) + "!", []byte("a longer one")},
		{ns + "bytes", all},
		{ns + "empty", []byte{}},
		{ns + "big", big},
	}
	for _, e := range entries {
		if err := b.Set(ctx, e.key, e.data, time.Minute); err != nil {
			t.Fatalf("Set(%.30q): %v", e.key, err)
		}
	}
	for _, e := range entries {
		v, ok, err := b.Get(ctx, e.key)
		if !ok || err != nil || !bytes.Equal(v, e.data) {
			t.Fatalf("Get(%.30q) = %d bytes %v %v; want %d bytes", e.key, len(v), ok, err, len(e.data))
		}
	}
}

// ttlFor is a TTL the backend can honour visibly: long enough that an entry read right after its
// write is still there, short enough to wait for.
func ttlFor(h Harness) time.Duration { return max(300*time.Millisecond, 3*h.TTLResolution) }

func byteTTL(t *testing.T, h Harness) {
	b := byteBackend(t, h)
	ctx := context.Background()
	ns := namespace(t)
	ttl := ttlFor(h)
	if err := b.Set(ctx, ns+"short", []byte("v"), ttl); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, ns+"long", []byte("w"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.Get(ctx, ns+"short"); !ok || err != nil {
		t.Fatalf("entry gone right after its write: %v %v", ok, err)
	}
	eventually(t, ttl+h.TTLResolution+5*time.Second, "the entry expires", func() bool {
		_, ok, err := b.Get(ctx, ns+"short")
		return !ok && err == nil
	})
	if _, ok, err := b.Get(ctx, ns+"long"); !ok || err != nil {
		t.Fatalf("the long-lived entry went too: %v %v", ok, err)
	}
}

func byteBatch(t *testing.T, h Harness) {
	b := byteBackend(t, h)
	ctx := context.Background()
	ns := namespace(t)
	if bg, ok := b.(tiered.BatchGetter); ok {
		if got, err := bg.GetMany(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("GetMany(nil) = %v %v", got, err)
		}
		for i := range 5 {
			if err := b.Set(ctx, fmt.Sprintf("%sb%d", ns, i), []byte{byte(i)}, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		keys := []string{ns + "b3", ns + "missing", ns + "b0", ns + "b3", ns + "long key " + strings.Repeat("x", 300), ns + "b4"}
		got, err := bg.GetMany(ctx, keys)
		if err != nil || len(got) != len(keys) {
			t.Fatalf("GetMany = %v %v", got, err)
		}
		want := [][]byte{{3}, nil, {0}, {3}, nil, {4}}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
				t.Fatalf("GetMany[%d] (%q) = %v, want %v", i, keys[i], got[i], want[i])
			}
		}
	}
	if bs, ok := b.(tiered.BatchSetter); ok {
		if err := bs.SetMany(ctx, nil, nil, nil); err != nil {
			t.Fatalf("SetMany of nothing: %v", err)
		}
		if err := bs.SetMany(ctx, []string{ns + "x"}, nil, []time.Duration{time.Minute}); err == nil {
			t.Fatal("SetMany with mismatched lengths succeeded")
		}
		ttl := ttlFor(h)
		keys := []string{ns + "s1", ns + "s2", ns + "s3", ns + "s1"}
		data := [][]byte{[]byte("one"), []byte("two"), []byte("three"), []byte("one again")}
		ttls := []time.Duration{time.Minute, ttl, time.Minute, time.Minute}
		if err := bs.SetMany(ctx, keys, data, ttls); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{ns + "s1": "one again", ns + "s2": "two", ns + "s3": "three"} {
			if v, ok, err := b.Get(ctx, k); !ok || err != nil || string(v) != want {
				t.Fatalf("after SetMany, %s = %q %v %v; want %q", k, v, ok, err, want)
			}
		}
		eventually(t, ttl+h.TTLResolution+5*time.Second, "the short entry of SetMany expires", func() bool {
			_, ok, _ := b.Get(ctx, ns+"s2")
			return !ok
		})
		if _, ok, _ := b.Get(ctx, ns+"s3"); !ok {
			t.Fatal("the long entries of SetMany expired with the short one")
		}
	}
}

func bytePattern(t *testing.T, h Harness) {
	ctx := context.Background()
	if h.Caps.PatternDelete {
		b := byteBackend(t, h)
		ns := namespace(t)
		for _, k := range []string{"user:1", "user:2", "user:10", "order:1", "user*x"} {
			if err := b.Set(ctx, ns+k, []byte(k), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		other := namespace(t)
		if err := b.Set(ctx, other+"user:1", []byte("other namespace"), time.Minute); err != nil {
			t.Fatal(err)
		}
		pd := b.(tiered.PatternDeleter)
		n, err := pd.DeletePattern(ctx, ns+"user:?")
		if err != nil || n != 2 {
			t.Fatalf("DeletePattern(user:?) = %d %v; want 2", n, err)
		}
		n, err = pd.DeletePattern(ctx, ns+`user\*x`)
		if err != nil || n != 1 {
			t.Fatalf(`DeletePattern(user\*x) = %d %v; want 1`, n, err)
		}
		for k, want := range map[string]bool{"user:1": false, "user:2": false, "user:10": true, "order:1": true, "user*x": false} {
			if _, ok, _ := b.Get(ctx, ns+k); ok != want {
				t.Fatalf("%s present = %v after the pattern deletes", k, ok)
			}
		}
		if _, ok, _ := b.Get(ctx, other+"user:1"); !ok {
			t.Fatal("a pattern delete reached another namespace")
		}
	}
	if h.Caps.Clear {
		b := byteBackend(t, h)
		ns := namespace(t)
		if err := b.Set(ctx, ns+"k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := b.(tiered.Clearer).Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := b.Get(ctx, ns+"k"); ok {
			t.Fatal("Clear left an entry")
		}
	}
	// Through a cache: the pattern delete of the tier, or the capability error.
	b := byteBackend(t, h)
	ns := namespace(t)
	c := newCache(t, ns, tiered.Options{}, tiered.Tier{Backend: b, Timeout: relaxed})
	for _, k := range []string{"user:1", "user:2", "order:1"} {
		if err := c.Set(ctx, k, newValue(k, 0, 0), tiered.Custom(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// Tags: a tier that keeps no tag index is reported, since entries no index knows survive.
	if err := c.Set(ctx, "tagged", newValue("tagged", 0, 0), tiered.Custom(time.Minute), tiered.Tags("g")); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateTags(ctx, "g"); h.Caps.TagIndex != (err == nil) || !h.Caps.TagIndex && !errors.Is(err, tiered.ErrUnsupported) {
		t.Fatalf("InvalidateTags on a tier with a tag index: %v = %v; want nil with one, tiered.ErrUnsupported without", h.Caps.TagIndex, err)
	}
	if _, found, err := tiered.Get[Value](ctx, c, "tagged"); err != nil || h.Caps.TagIndex && found {
		t.Fatalf("after InvalidateTags the tagged entry is found: %v %v", found, err)
	}
	err := c.InvalidatePattern(ctx, "user:*")
	if !h.Caps.PatternDelete {
		if !errors.Is(err, tiered.ErrUnsupported) {
			t.Fatalf("InvalidatePattern on a tier without pattern delete = %v; want tiered.ErrUnsupported", err)
		}
		if err := c.InvalidateAll(ctx); !errors.Is(err, tiered.ErrUnsupported) {
			t.Fatalf("InvalidateAll on a tier without pattern delete = %v; want tiered.ErrUnsupported", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"user:1": false, "user:2": false, "order:1": true} {
		if _, found, err := tiered.Get[Value](ctx, c, k); found != want || err != nil {
			t.Fatalf("%s found = %v (%v) after InvalidatePattern(user:*)", k, found, err)
		}
	}
	if err := c.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, ns+"order:1"); ok {
		t.Fatal("InvalidateAll left an entry")
	}
}

// byteConcurrency runs writers, readers and deleters on few keys at once, directly and through a
// cache; -race checks the backend's memory accesses, the values check that no read is torn or
// misplaced.
func byteConcurrency(t *testing.T, h Harness) {
	b := byteBackend(t, h)
	ns := namespace(t)
	c := newCache(t, ns, tiered.Options{}, tiered.Tier{Backend: b, Timeout: relaxed})
	ctx := context.Background()
	const keys, workers, ops = 16, 6, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range ops {
				k := fmt.Sprintf("c%d", rng.IntN(keys))
				var err error
				switch r := rng.IntN(10); {
				case r < 3:
					err = c.Set(ctx, k, newValue(k, w, i), tiered.Custom(time.Minute))
				case r < 6:
					var v Value
					var found bool
					if v, found, err = tiered.Get[Value](ctx, c, k); err == nil && found {
						err = v.check(k)
					}
				case r < 7:
					err = c.Invalidate(ctx, k)
				case r < 8:
					ks := []string{k, fmt.Sprintf("c%d", rng.IntN(keys))}
					var got []tiered.BatchEntry[Value]
					if got, err = tiered.GetMany[Value](ctx, c, ks); err == nil {
						for j, e := range got {
							if e.Found {
								err = errors.Join(err, e.Value.check(ks[j]))
							}
						}
					}
				case r < 9:
					err = c.SetMany(ctx, []tiered.BatchValue{{Key: k, Value: newValue(k, w, i)}}, tiered.Custom(time.Minute))
				default:
					// Directly: raw bytes that name their key.
					raw := []byte(ns + k + fmt.Sprintf("|%d|%d", w, i))
					if err = b.Set(ctx, ns+"raw:"+k, raw, time.Minute); err == nil {
						var v []byte
						var ok bool
						if v, ok, err = b.Get(ctx, ns+"raw:"+k); err == nil && (!ok || !bytes.HasPrefix(v, []byte(ns+k+"|"))) {
							err = fmt.Errorf("raw read of %s = %q %v", k, v, ok)
						}
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := c.Stats(); s.Corrupt != 0 || s.Tiers[0].Errors != 0 {
		t.Fatalf("stats after the concurrent run: corrupt %d, tier errors %d", s.Corrupt, s.Tiers[0].Errors)
	}
}

// byteTimeouts stalls the backend and checks that a cache call under a tier Timeout returns while
// it is stalled: fail-open calls as a miss or a dropped write, fail-closed ones with an error; and
// that the backend's own methods, called directly, return by their deadline.
func byteTimeouts(t *testing.T, h Harness) {
	b := byteBackend(t, h)
	ns := namespace(t)
	ctx := context.Background()
	timeout := h.Timeout
	// The cache bounds each tier call by the Timeout through its context alone: a call returns
	// by then, give or take scheduling; only a stuck call takes longer.
	limit := timeout + directSlack
	br := tiered.BreakerOptions{Failures: 1 << 20}
	open := newCache(t, ns, tiered.Options{Breaker: br}, tiered.Tier{Backend: b, Timeout: timeout})
	closed := newCache(t, ns, tiered.Options{Breaker: br, FailClosed: true}, tiered.Tier{Backend: b, Timeout: timeout})
	if err := open.Set(ctx, "k", newValue("k", 0, 0), tiered.Custom(time.Minute)); err != nil {
		t.Fatal(err)
	}

	release := h.Stall(t)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	if h.StallsReads {
		var found bool
		var err error
		if within(t, limit, "fail-open Get", func() { _, found, err = tiered.Get[Value](ctx, open, "k") }) && (found || err != nil) {
			t.Errorf("fail-open Get under a stall = %v %v; want a miss", found, err)
		}
		if within(t, limit, "fail-closed Get", func() { _, found, err = tiered.Get[Value](ctx, closed, "k") }) && !errors.Is(err, tiered.ErrTierUnavailable) {
			t.Errorf("fail-closed Get under a stall = %v %v; want tiered.ErrTierUnavailable", found, err)
		}
		var got []tiered.BatchEntry[Value]
		if within(t, limit, "GetMany", func() { got, err = tiered.GetMany[Value](ctx, open, []string{"k", "k2"}) }) && (err != nil || got[0].Found) {
			t.Errorf("GetMany under a stall = %+v %v; want misses", got, err)
		}
	}
	var err error
	// A change the tier missed is reported whatever the fail mode: the tier may keep an older
	// value until it catches up.
	if within(t, limit, "fail-open Set", func() { err = open.Set(ctx, "k2", newValue("k2", 0, 1), tiered.Custom(time.Minute)) }) && !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Errorf("fail-open Set under a stall = %v; want the write dropped and tiered.ErrTierUnavailable", err)
	}
	if within(t, limit, "fail-closed Set", func() { err = closed.Set(ctx, "k3", newValue("k3", 0, 1), tiered.Custom(time.Minute)) }) && !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Errorf("fail-closed Set under a stall = %v; want tiered.ErrTierUnavailable", err)
	}
	within(t, limit, "Invalidate", func() { _ = open.Invalidate(ctx, "k3") })
	within(t, limit, "SetMany", func() {
		_ = open.SetMany(ctx, []tiered.BatchValue{{Key: "k4", Value: newValue("k4", 0, 1)}}, tiered.Custom(time.Minute))
	})
	// Called directly, every method returns by its context's deadline (tiered.ByteBackend), with
	// an error: the cache relies on it to bound its callers.
	directCalls(t, h, b, ns)
	s := open.Stats().Tiers[0]
	if s.Timeouts == 0 || s.DroppedWrites == 0 {
		t.Errorf("tier stats after the stall: %+v; want timeouts and dropped writes", s)
	}
	release()
	released = true

	// Answering again: writes and reads go through (the breaker was kept closed). The fail-closed
	// cache reports a write the tier did not take.
	eventually(t, 20*time.Second, "the backend answers after the stall", func() bool {
		return closed.Set(ctx, "after", newValue("after", 0, 2), tiered.Custom(time.Minute)) == nil
	})
	if v, found, err := tiered.Get[Value](ctx, closed, "after"); !found || err != nil || v.check("after") != nil {
		t.Fatalf("a read after the stall = %v %v %+v", found, err, v)
	}
}

// directCalls calls each method of the stalled backend b directly, with a deadline of
// h.Timeout, and checks that it returns an error by the deadline plus directSlack. The methods
// that read are called only when the stall holds reads.
func directCalls(t *testing.T, h Harness, b tiered.ByteBackend, ns string) {
	t.Helper()
	type call struct {
		name string
		fn   func(ctx context.Context) error
	}
	var calls []call
	if h.StallsReads {
		calls = append(calls, call{"Get", func(ctx context.Context) error { _, _, err := b.Get(ctx, ns+"k"); return err }})
		if bg, ok := b.(tiered.BatchGetter); ok {
			calls = append(calls, call{"GetMany", func(ctx context.Context) error {
				_, err := bg.GetMany(ctx, []string{ns + "k", ns + "direct"})
				return err
			}})
		}
	}
	calls = append(calls,
		call{"Set", func(ctx context.Context) error { return b.Set(ctx, ns+"direct", []byte("v"), time.Minute) }},
		call{"Delete", func(ctx context.Context) error { return b.Delete(ctx, ns+"direct", ns+"k") }},
	)
	if bs, ok := b.(tiered.BatchSetter); ok {
		calls = append(calls, call{"SetMany", func(ctx context.Context) error {
			return bs.SetMany(ctx, []string{ns + "direct", ns + "other"}, [][]byte{[]byte("1"), []byte("2")}, []time.Duration{time.Minute, time.Minute})
		}})
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
		var err error
		limit := h.Timeout + directSlack
		if within(t, limit, "a direct "+c.name+" with a deadline", func() { err = c.fn(ctx) }) && err == nil {
			t.Errorf("a direct %s under a stall succeeded", c.name)
		}
		cancel()
	}
}

// directSlack is how long after its deadline a direct call of a stalled backend may take to
// return: scheduling on a loaded machine, never the stall itself, which lasts until released.
const directSlack = 2 * time.Second
