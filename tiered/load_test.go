package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/loadwait"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

func twoTier(t *testing.T, opts tiered.Options) *tiered.Cache {
	t.Helper()
	srv := redistest.Shared(t)
	opts.Namespace = namespace(t)
	opts.Tiers = []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, srv.Client(t), "redis")}}
	return newCache(t, opts)
}

// TestStampede: 1,000 goroutines missing one cold key cause exactly one tier walk and one load.
func TestStampede(t *testing.T) {
	c := twoTier(t, tiered.Options{})
	var calls atomic.Int64
	load := countingLoader(&calls, newPayload(1), 50*time.Millisecond)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Go(func() {
			<-start
			v, err := tiered.Load(context.Background(), c, "cold", tiered.ShortTerm, load)
			if err == nil && v.ID != 1 {
				err = errors.New("wrong value")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", calls.Load())
	}
	s := c.Stats()
	if s.Requests != 1000 || s.Loads != 1 || s.Misses+s.Coalesced+s.Hits != 1000 {
		t.Fatalf("stats = %+v", s)
	}
	checkInvariant(t, s)
}

// TestWaiterCancelled: a waiter whose context ends returns at once with its context's error; the
// others still get the value.
func TestWaiterCancelled(t *testing.T) {
	c := twoTier(t, tiered.Options{})
	var calls atomic.Int64
	entered, release := make(chan struct{}), make(chan struct{})
	load := func(context.Context) (int, error) {
		calls.Add(1)
		close(entered)
		<-release
		return 42, nil
	}
	base := loadwait.Blocked()
	var wg sync.WaitGroup
	var got atomic.Int64
	for range 10 {
		wg.Go(func() {
			if v, err := tiered.Load(context.Background(), c, "k", tiered.ShortTerm, load); err == nil && v == 42 {
				got.Add(1)
			}
		})
	}
	<-entered
	loadwait.Wait(t, base+9) // the leader runs the load inline; nine callers wait for it
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := tiered.Load(ctx, c, "k", tiered.ShortTerm, load)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled waiter: err = %v", err)
	}
	close(release) // only now: the cancelled waiter returned while the load was still running
	wg.Wait()
	if got.Load() != 10 || calls.Load() != 1 {
		t.Fatalf("others got %d values, loader ran %d times", got.Load(), calls.Load())
	}
}

// TestLeaderCancelled: the first caller gives up; the load it started still completes for the
// callers that joined it, and is cached.
func TestLeaderCancelled(t *testing.T) {
	c := twoTier(t, tiered.Options{})
	var calls atomic.Int64
	var sawCancel atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	load := func(ctx context.Context) (int, error) {
		calls.Add(1)
		close(entered)
		select {
		case <-release:
			return 7, nil
		case <-ctx.Done():
			sawCancel.Store(true)
			return 0, ctx.Err()
		}
	}
	base := loadwait.Blocked()
	ctx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := tiered.Load(ctx, c, "k", tiered.ShortTerm, load)
		leaderErr <- err
	}()
	<-entered
	follower := make(chan int, 1)
	go func() {
		v, _ := tiered.Load(context.Background(), c, "k", tiered.ShortTerm, load)
		follower <- v
	}()
	loadwait.Wait(t, base+2) // the leader (its load is detached) and the follower wait for it
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: err = %v, want Canceled", err)
	}
	close(release)
	if v := <-follower; v != 7 {
		t.Fatalf("follower got %d, want 7", v)
	}
	if sawCancel.Load() || calls.Load() != 1 {
		t.Fatalf("load saw cancellation=%v, calls=%d", sawCancel.Load(), calls.Load())
	}
	// Cached: the next read is a hit.
	if v, err := tiered.Load(context.Background(), c, "k", tiered.ShortTerm, load); err != nil || v != 7 || calls.Load() != 1 {
		t.Fatalf("after the load: %d, %v, calls %d", v, err, calls.Load())
	}
}

// TestLoaderPanic: every waiter gets an error, the process survives, and the key is free again.
func TestLoaderPanic(t *testing.T) {
	c := twoTier(t, tiered.Options{})
	var calls atomic.Int64
	entered, release := make(chan struct{}), make(chan struct{})
	boom := func(context.Context) (int, error) {
		calls.Add(1)
		close(entered)
		<-release
		panic("boom")
	}
	base := loadwait.Blocked()
	var wg sync.WaitGroup
	var panics atomic.Int64
	for range 20 {
		wg.Go(func() {
			_, err := tiered.Load(context.Background(), c, "p", tiered.ShortTerm, boom)
			var pe *tiered.PanicError
			if errors.Is(err, tiered.ErrLoaderPanic) && errors.As(err, &pe) && pe.Value == "boom" && len(pe.Stack) > 0 {
				panics.Add(1)
			}
		})
	}
	<-entered
	loadwait.Wait(t, base+19)
	close(release)
	wg.Wait()
	if panics.Load() != 20 || calls.Load() != 1 {
		t.Fatalf("%d of 20 callers saw the panic; loader ran %d times", panics.Load(), calls.Load())
	}
	v, err := tiered.Load(context.Background(), c, "p", tiered.ShortTerm, func(context.Context) (int, error) { return 3, nil })
	if err != nil || v != 3 {
		t.Fatalf("key wedged after panic: %v, %v", v, err)
	}
	if s := c.Stats(); s.LoadErrors != 1 {
		t.Fatalf("load errors = %d, want 1", s.LoadErrors)
	}
	// A panic with a cancellable caller (load on its own goroutine) is caught as well.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := tiered.Load(ctx, c, "p2", tiered.ShortTerm, func(context.Context) (int, error) { panic(errors.New("e")) }); !errors.Is(err, tiered.ErrLoaderPanic) {
		t.Fatalf("err = %v", err)
	}
}

// TestStatsExactUnderConcurrency hammers hits, misses and coalesced loads on many keys at once
// and checks that every request was counted exactly once.
func TestStatsExactUnderConcurrency(t *testing.T) {
	c := twoTier(t, tiered.Options{})
	const workers, perWorker = 16, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				key := string(rune('a' + (i+w)%20))
				_, _ = tiered.Load(context.Background(), c, key, tiered.ShortTerm, func(context.Context) (int, error) {
					time.Sleep(time.Millisecond)
					return i, nil
				})
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Requests != workers*perWorker {
		t.Fatalf("requests = %d, want %d: %+v", s.Requests, workers*perWorker, s)
	}
	if s.Loads != 20 || s.InFlight != 0 {
		t.Fatalf("loads = %d (want 20, one per key), in flight %d", s.Loads, s.InFlight)
	}
	checkInvariant(t, s)
}

// TestCloseBounded: Close waits for a detached load, but not forever when the loader ignores its
// context.
func TestCloseBounded(t *testing.T) {
	c, err := tiered.New(tiered.Options{LoadTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	defer close(stuck)
	ctx, cancel := context.WithCancel(context.Background())
	entered := make(chan struct{})
	go func() { <-entered; cancel() }()
	_, err = tiered.Load(ctx, c, "k", tiered.ShortTerm, func(context.Context) (int, error) {
		close(entered)
		<-stuck // ignores its context
		return 1, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load: %v", err)
	}
	start := time.Now()
	if err := c.Close(); !errors.Is(err, tiered.ErrCloseTimeout) {
		t.Fatalf("Close = %v, want ErrCloseTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// TestPanicIsNeverNotFound: a loader that panics with a not-found error fails its callers and
// caches nothing.
func TestPanicIsNeverNotFound(t *testing.T) {
	c := newCache(t, tiered.Options{})
	s := tiered.ShortTerm.WithNegativeTTL(time.Minute)
	for i := 0; i < 2; i++ {
		_, err := tiered.Load(context.Background(), c, "k", s, func(context.Context) (int, error) {
			panic(fmt.Errorf("wrapped: %w", tiered.ErrNotFound))
		})
		if !errors.Is(err, tiered.ErrLoaderPanic) {
			t.Fatalf("call %d: err = %v, want a loader panic", i, err)
		}
	}
	if s := c.Stats(); s.NegativeHits != 0 || s.Loads != 2 {
		t.Fatalf("panic was cached as not found: %+v", s)
	}
}

// TestHugeTTLDoesNotOverflow: a TTL near the int64 limit on a scaled tier is stored, not dropped.
func TestHugeTTLDoesNotOverflow(t *testing.T) {
	l1 := newL1(t)
	c := newCache(t, tiered.Options{Tiers: []tiered.Tier{{Backend: l1, TTLScale: 4}}})
	if err := c.Set(context.Background(), "k", 1, tiered.Custom(100*365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v, found, err := tiered.Get[int](context.Background(), c, "k"); !found || err != nil || v != 1 {
		t.Fatalf("Get = %v, %v, %v", v, found, err)
	}
}

// TestInvalidateDuringLoad: a load that read the old value before an invalidation must not put it
// back into the cache after it — in L1 or in Redis.
func TestInvalidateDuringLoad(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	c := twoTier(t, tiered.Options{})
	ctx := context.Background()
	ns := c.Namespace()
	read := make(chan struct{})
	proceed := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		v, _ := tiered.Load(ctx, c, "k", tiered.ShortTerm, func(context.Context) (int, error) {
			close(read) // the source was read: value 1
			<-proceed
			return 1, nil
		})
		done <- v
	}()
	<-read
	if err := c.Invalidate(ctx, "k"); err != nil { // the source changed to 2 meanwhile
		t.Fatal(err)
	}
	close(proceed)
	if v := <-done; v != 1 {
		t.Fatalf("the load's own callers get %d, want 1", v)
	}
	if rdb.Exists(ctx, ns+"k").Val() != 0 {
		t.Fatal("the pre-invalidation value was written to Redis after the invalidation")
	}
	v, err := tiered.Load(ctx, c, "k", tiered.ShortTerm, func(context.Context) (int, error) { return 2, nil })
	if err != nil || v != 2 {
		t.Fatalf("next Load = %v, %v; want the new value 2", v, err)
	}
}
