package decorate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/tiered"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRefreshAhead(t *testing.T) {
	e := newEnv(t, ns(t))
	var (
		calls   atomic.Int64
		version atomic.Int64
		gate    = make(chan struct{})
		gated   atomic.Bool
	)
	w, err := decorate.Func(e.cache, func(ctx context.Context, id int) (string, error) {
		calls.Add(1)
		if gated.Load() {
			<-gate
		}
		return fmt.Sprintf("%d@v%d", id, version.Load()), nil
	}, decorate.Options{Name: "ahead", Strategy: tiered.Custom(3 * time.Second).WithRefreshAhead(2500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := w.Call(t.Context(), 1); err != nil || v != "1@v0" {
		t.Fatalf("first call: %q, %v", v, err)
	}
	time.Sleep(600 * time.Millisecond) // into the refresh-ahead window
	version.Store(1)
	gated.Store(true)

	// Many callers in the window: all get the current value at once, one refresh starts.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			start := time.Now()
			v, err := w.Call(t.Context(), 1)
			switch {
			case err != nil:
				errs <- err
			case v != "1@v0":
				errs <- fmt.Errorf("served %q, want the current value", v)
			case time.Since(start) > time.Second:
				errs <- fmt.Errorf("a read in the window waited %v", time.Since(start))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "the refresh to start", func() bool { return calls.Load() == 2 })
	for range 20 {
		if v, _ := w.Call(t.Context(), 1); v != "1@v0" {
			t.Fatalf("served %q while the refresh runs", v)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Fatalf("source calls while one refresh runs: %d, want 2", got)
	}
	close(gate)
	waitFor(t, "the refreshed value", func() bool {
		v, _ := w.Call(t.Context(), 1)
		return v == "1@v1"
	})
	if s := e.cache.Stats(); s.Refreshes != 1 || s.RefreshFailures != 0 {
		t.Fatalf("stats %+v", s)
	}
	if calls.Load() != 2 {
		t.Fatalf("source calls %d, want 2", calls.Load())
	}
}

func TestRefreshAheadBackoff(t *testing.T) {
	e := newEnv(t, ns(t), func(o *tiered.Options) { o.RefreshBackoff = time.Minute })
	var calls atomic.Int64
	var fail atomic.Bool
	w, err := decorate.Func(e.cache, func(ctx context.Context, id int) (int64, error) {
		n := calls.Add(1)
		if fail.Load() {
			return 0, errors.New("source down")
		}
		return n, nil
	}, decorate.Options{Name: "backoff", Strategy: tiered.Custom(3 * time.Second).WithRefreshAhead(2500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := w.Call(t.Context(), 1); v != 1 {
		t.Fatalf("first call: %d", v)
	}
	time.Sleep(600 * time.Millisecond)
	fail.Store(true)
	if v, err := w.Call(t.Context(), 1); v != 1 || err != nil {
		t.Fatalf("in window: %d, %v", v, err)
	}
	waitFor(t, "the failed refresh", func() bool { return e.cache.Stats().RefreshFailures == 1 })
	for range 50 {
		if v, err := w.Call(t.Context(), 1); v != 1 || err != nil {
			t.Fatalf("after a failed refresh: %d, %v", v, err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if s := e.cache.Stats(); s.Refreshes != 1 || calls.Load() != 2 {
		t.Fatalf("refreshes during backoff: %+v, source calls %d", s, calls.Load())
	}
}

func TestStaleIfError(t *testing.T) {
	n := ns(t)
	backoff := func(o *tiered.Options) { o.RefreshBackoff = time.Minute }
	e1, e2 := newEnv(t, n, backoff), newEnv(t, n, backoff)
	var (
		fail    atomic.Bool
		calls   atomic.Int64
		version atomic.Int64
	)
	src := func(ctx context.Context, id int) (string, error) {
		calls.Add(1)
		if fail.Load() {
			time.Sleep(20 * time.Millisecond)
			return "", errors.New("source down")
		}
		return fmt.Sprintf("%d@v%d", id, version.Load()), nil
	}
	// A backoff longer than the test: after the failed reload, no read calls the source for key 1
	// again, however late it arrives.
	o := decorate.Options{Name: "sie", Strategy: tiered.Custom(300 * time.Millisecond).WithStaleIfError(time.Second)}
	w1, err := decorate.Func(e1.cache, src, o)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := decorate.Func(e2.cache, src, o)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, id := range []int{1, 2, 3} {
		if v, err := w1.Call(t.Context(), id); err != nil || v != fmt.Sprintf("%d@v0", id) {
			t.Fatalf("load %d: %q, %v", id, v, err)
		}
	}
	time.Sleep(400 * time.Millisecond) // past the TTL, within StaleIfError
	fail.Store(true)
	before := calls.Load()

	// Concurrent readers of an expired entry: one source call, every reader gets the old value:
	// those arriving while it runs wait for it, those arriving after it failed are within the
	// backoff.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			if v, err := w1.Call(t.Context(), 1); err != nil || v != "1@v0" {
				errs <- fmt.Errorf("stale-if-error: %q, %v", v, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := calls.Load() - before; got != 1 {
		t.Fatalf("source calls for 50 readers of an expired entry: %d, want 1", got)
	}
	// A reader after the failure is within the backoff: the old value, no source call.
	if v, err := w1.Call(t.Context(), 1); err != nil || v != "1@v0" {
		t.Fatalf("within the backoff: %q, %v", v, err)
	}
	if got := calls.Load() - before; got != 1 {
		t.Fatalf("source calls after a failed reload, within the backoff: %d, want 1", got)
	}
	if s := e1.cache.Stats(); s.StaleIfErrorServes != 51 {
		t.Fatalf("stale serves counted: %d, want 51", s.StaleIfErrorServes)
	}
	// Another instance finds the kept entry in Redis and serves it the same way.
	if v, err := w2.Call(t.Context(), 2); err != nil || v != "2@v0" {
		t.Fatalf("other instance: %q, %v", v, err)
	}
	if s := e2.cache.Stats(); s.StaleIfErrorServes != 1 {
		t.Fatalf("other instance stale serves: %d", s.StaleIfErrorServes)
	}
	// When the source answers again, an expired entry that is not backing off is reloaded, not
	// served.
	fail.Store(false)
	version.Store(1)
	if v, err := w1.Call(t.Context(), 2); err != nil || v != "2@v1" {
		t.Fatalf("after recovery: %q, %v", v, err)
	}
	// Past the StaleIfError window the error comes through.
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	fail.Store(true)
	if v, err := w1.Call(t.Context(), 3); err == nil {
		t.Fatalf("past the window: %q, want the source's error", v)
	}
}

func TestStaleIfErrorBackoff(t *testing.T) {
	e := newEnv(t, ns(t), func(o *tiered.Options) { o.RefreshBackoff = 700 * time.Millisecond })
	var (
		fail  atomic.Bool
		calls atomic.Int64
	)
	w, err := decorate.Func(e.cache, func(ctx context.Context, id int) (int64, error) {
		n := calls.Add(1)
		if fail.Load() {
			return 0, errors.New("source down")
		}
		return n, nil
	}, decorate.Options{Name: "sie-backoff", Strategy: tiered.Custom(200 * time.Millisecond).WithStaleIfError(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := w.Call(t.Context(), 1); err != nil || v != 1 {
		t.Fatalf("first call: %d, %v", v, err)
	}
	time.Sleep(300 * time.Millisecond) // past the TTL
	fail.Store(true)
	began := time.Now()
	if v, err := w.Call(t.Context(), 1); err != nil || v != 1 {
		t.Fatalf("failing source: %d, %v", v, err)
	}
	failed := time.Now() // the backoff ends between began and failed plus RefreshBackoff
	if calls.Load() != 2 {
		t.Fatalf("source calls %d, want 2", calls.Load())
	}
	// Within the backoff the kept value is served without a source call.
	for range 20 {
		if v, err := w.Call(t.Context(), 1); err != nil || v != 1 {
			t.Fatalf("within the backoff: %d, %v", v, err)
		}
	}
	within := time.Since(began) < 700*time.Millisecond // false only on a badly stalled machine
	if within && calls.Load() != 2 {
		t.Fatalf("source calls within the backoff: %d, want 2", calls.Load())
	}
	// Once the backoff has passed, the next read calls the source again.
	time.Sleep(time.Until(failed.Add(800 * time.Millisecond)))
	fail.Store(false)
	if v, err := w.Call(t.Context(), 1); err != nil || v != 3 {
		t.Fatalf("after the backoff: %d, %v, want the reloaded 3", v, err)
	}
	if s := e.cache.Stats(); within && (calls.Load() != 3 || s.StaleIfErrorServes != 21) {
		t.Fatalf("stats %+v and %d source calls, want 21 stale serves and 3 calls", s, calls.Load())
	}
}
