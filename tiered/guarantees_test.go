package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/loadwait"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// The tests of this file check the engine's guarantees on every path that writes after a source
// call or a read: a change of the key (here or on another instance, through the bus) made while
// the source call or read runs leaves no tier holding the older value, and the next read loads
// anew. Each forces the interleaving: the source blocks (or a hook holds the read) until the
// change has been applied.

// pair is two instances sharing a Redis and a bus.
type pair struct {
	a, b   *tiered.Cache         // a reads; b is the other instance
	exists func(key string) bool // the key is in Redis
}

func newPair(t *testing.T) *pair {
	t.Helper()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	rdb := srv.Client(t)
	p := &pair{a: newBusCache(t, srv.Client(t), ns), b: newBusCache(t, srv.Client(t), ns)}
	p.exists = func(key string) bool { return rdb.Exists(context.Background(), ns+key).Val() != 0 }
	return p
}

// change removes key as from says: "local" on a, "remote" on b (then it waits until a applied
// the message).
func (p *pair) change(t *testing.T, from, key string) {
	t.Helper()
	ctx := context.Background()
	if from == "local" {
		if err := p.a.Invalidate(ctx, key); err != nil {
			t.Fatal(err)
		}
		return
	}
	applied := p.a.Stats().Invalidation.Applied
	if err := p.b.Invalidate(ctx, key); err != nil {
		t.Fatal(err)
	}
	busEventually(t, 5*time.Second, "a applied b's invalidation", func() bool {
		return p.a.Stats().Invalidation.Applied > applied
	})
}

// assertGone checks that no tier of a, nor Redis, holds key.
func (p *pair) assertGone(t *testing.T, key string) {
	t.Helper()
	if v, ok := tiered.L1Value(p.a, key); ok {
		t.Fatalf("a's L1 holds %v after the change", v)
	}
	if p.exists(key) {
		t.Fatal("Redis holds the key after the change")
	}
}

// assertReloads checks that the next read of key calls the source and gets its new answer.
func (p *pair) assertReloads(t *testing.T, key string, s tiered.Strategy) {
	t.Helper()
	called := false
	v, err := tiered.Load(context.Background(), p.a, key, s, func(context.Context) (int, error) { called = true; return 2, nil })
	if err != nil || v != 2 || !called {
		t.Fatalf("the next read = %d, %v (source called: %v), want a fresh load of 2", v, err, called)
	}
}

// blockedSource returns a loader that signals entered, waits for release and returns v (or err).
func blockedSource(v int, err error) (fn func(context.Context) (int, error), entered chan struct{}, release chan struct{}) {
	entered, release = make(chan struct{}, 1), make(chan struct{})
	return func(context.Context) (int, error) {
		entered <- struct{}{}
		<-release
		return v, err
	}, entered, release
}

// waitIdle waits until a has no walk, load or refresh running.
func waitIdle(t *testing.T, c *tiered.Cache) {
	t.Helper()
	busEventually(t, 5*time.Second, "no load running", func() bool { return c.Stats().InFlight == 0 })
}

func TestChangeDuringLoadStoresNothing(t *testing.T) {
	for _, from := range []string{"local", "remote"} {
		t.Run(from, func(t *testing.T) {
			p := newPair(t)
			src, entered, release := blockedSource(1, nil)
			done := make(chan error, 1)
			go func() {
				v, err := tiered.Load(context.Background(), p.a, "k", tiered.Default, src)
				if err == nil && v != 1 {
					err = fmt.Errorf("the caller got %d, want what the source returned", v)
				}
				done <- err
			}()
			<-entered
			p.change(t, from, "k")
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			p.assertGone(t, "k")
			if s := p.a.Stats(); s.Superseded != 1 {
				t.Fatalf("Superseded = %d, want 1", s.Superseded)
			}
			p.assertReloads(t, "k", tiered.Default)
		})
	}
}

func TestChangeDuringNegativeLoadStoresNothing(t *testing.T) {
	s := tiered.Default.WithNegativeTTL(time.Hour)
	for _, from := range []string{"local", "remote"} {
		t.Run(from, func(t *testing.T) {
			p := newPair(t)
			src, entered, release := blockedSource(0, tiered.ErrNotFound)
			done := make(chan error, 1)
			go func() {
				_, err := tiered.Load(context.Background(), p.a, "k", s, src)
				done <- err
			}()
			<-entered
			p.change(t, from, "k")
			close(release)
			if err := <-done; !errors.Is(err, tiered.ErrNotFound) {
				t.Fatalf("the caller got %v, want ErrNotFound", err)
			}
			p.assertGone(t, "k")
			p.assertReloads(t, "k", s)
		})
	}
}

// TestChangeDuringRefreshStoresNothing covers the background loads: refresh-ahead and
// serve-stale-while-refresh.
func TestChangeDuringRefreshStoresNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     tiered.Strategy
		sleep time.Duration // into the window
	}{
		{"refresh-ahead", tiered.Custom(time.Minute).WithRefreshAhead(time.Minute - 50*time.Millisecond), 100 * time.Millisecond},
		{"stale", tiered.Custom(50 * time.Millisecond).WithStale(time.Minute), 100 * time.Millisecond},
	} {
		for _, from := range []string{"local", "remote"} {
			t.Run(tc.name+"/"+from, func(t *testing.T) {
				p := newPair(t)
				ctx := context.Background()
				if _, err := tiered.Load(ctx, p.a, "k", tc.s, func(context.Context) (int, error) { return 0, nil }); err != nil {
					t.Fatal(err)
				}
				time.Sleep(tc.sleep)
				src, entered, release := blockedSource(1, nil)
				// The read is answered with the entry at once; the refresh runs in the background.
				if v, err := tiered.Load(ctx, p.a, "k", tc.s, src); err != nil || v != 0 {
					t.Fatalf("read in the window = %d, %v", v, err)
				}
				<-entered
				p.change(t, from, "k")
				close(release)
				waitIdle(t, p.a)
				p.assertGone(t, "k")
				if s := p.a.Stats(); s.Refreshes != 1 || s.Superseded != 1 {
					t.Fatalf("Refreshes %d, Superseded %d, want 1 and 1", s.Refreshes, s.Superseded)
				}
				p.assertReloads(t, "k", tc.s)
			})
		}
	}
}

func TestChangeDuringStaleIfErrorLoadStoresNothing(t *testing.T) {
	s := tiered.Custom(50 * time.Millisecond).WithStaleIfError(time.Minute)
	for _, from := range []string{"local", "remote"} {
		t.Run(from, func(t *testing.T) {
			p := newPair(t)
			ctx := context.Background()
			if _, err := tiered.Load(ctx, p.a, "k", s, func(context.Context) (int, error) { return 0, nil }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // past the TTL, within StaleIfError: the read loads
			src, entered, release := blockedSource(1, nil)
			done := make(chan error, 1)
			go func() {
				v, err := tiered.Load(ctx, p.a, "k", s, src)
				if err == nil && v != 1 {
					err = fmt.Errorf("the caller got %d, want the reloaded 1", v)
				}
				done <- err
			}()
			<-entered
			p.change(t, from, "k")
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			p.assertGone(t, "k")
			p.assertReloads(t, "k", s)
		})
	}
}

func TestChangeDuringBatchLoadStoresNothing(t *testing.T) {
	s := tiered.Default.WithNegativeTTL(time.Hour)
	for _, from := range []string{"local", "remote"} {
		t.Run(from, func(t *testing.T) {
			p := newPair(t)
			entered, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				got, err := tiered.LoadMany(context.Background(), p.a, []string{"k", "other", "absent"}, s, func(_ context.Context, missing []string) (map[string]int, error) {
					close(entered)
					<-release
					return map[string]int{"k": 1, "other": 1}, nil
				})
				if err == nil && (got["k"] != 1 || got["other"] != 1 || len(got) != 2) {
					err = fmt.Errorf("the caller got %v", got)
				}
				done <- err
			}()
			<-entered
			p.change(t, from, "k")
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			p.assertGone(t, "k")
			// The keys that did not change are stored, the absent one as "not found".
			if v, ok := tiered.L1Value(p.a, "other"); !ok || v != 1 {
				t.Fatalf("L1 holds %v (%v) for an unchanged key of the batch", v, ok)
			}
			if _, err := tiered.Load(context.Background(), p.a, "absent", s, func(context.Context) (int, error) { return 0, errors.New("must not load") }); !errors.Is(err, tiered.ErrNotFound) {
				t.Fatalf("absent key of the batch: %v, want its cached ErrNotFound", err)
			}
			p.assertReloads(t, "k", s)
		})
	}
}

// TestChangeDuringPromotionCopiesNothing holds a read between its Redis hit and its promotion
// into L1, changes the key, and lets it go: the read answers with what it found, and L1 stays
// empty.
func TestChangeDuringPromotionCopiesNothing(t *testing.T) {
	for _, batch := range []bool{false, true} {
		for _, from := range []string{"local", "remote"} {
			name := "single/" + from
			if batch {
				name = "batch/" + from
			}
			t.Run(name, func(t *testing.T) {
				p := newPair(t)
				ctx := context.Background()
				if err := p.b.Set(ctx, "k", 1, tiered.Default); err != nil {
					t.Fatal(err)
				}
				busEventually(t, 5*time.Second, "b's Set applied on a", func() bool { return p.a.Stats().Invalidation.Applied == 1 })
				entered, release := make(chan struct{}), make(chan struct{})
				var once sync.Once
				*tiered.BeforePromoteHook = func(key string) {
					once.Do(func() {
						close(entered)
						<-release
					})
				}
				t.Cleanup(func() { *tiered.BeforePromoteHook = nil })
				done := make(chan error, 1)
				go func() {
					var v int
					var err error
					if batch {
						var got []tiered.BatchEntry[int]
						if got, err = tiered.GetMany[int](ctx, p.a, []string{"k"}); err == nil {
							v = got[0].Value
						}
					} else {
						v, _, err = tiered.Get[int](ctx, p.a, "k")
					}
					if err == nil && v != 1 {
						err = fmt.Errorf("the read got %d, want what it found, 1", v)
					}
					done <- err
				}()
				<-entered
				p.change(t, from, "k")
				close(release)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				*tiered.BeforePromoteHook = nil
				p.assertGone(t, "k")
				p.assertReloads(t, "k", tiered.Default)
			})
		}
	}
}

// TestSetDuringLoadWins: a value Set while a load runs is not overwritten by the load's older
// value, on any tier.
func TestSetDuringLoadWins(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	src, entered, release := blockedSource(1, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = tiered.Load(ctx, p.a, "k", tiered.Default, src)
	}()
	<-entered
	if err := p.a.Set(ctx, "k", 2, tiered.Default); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	if v, ok := tiered.L1Value(p.a, "k"); !ok || v != 2 {
		t.Fatalf("L1 holds %v (%v), want the value Set, 2", v, ok)
	}
	if v, ok, err := tiered.Get[int](ctx, p.b, "k"); err != nil || !ok || v != 2 {
		t.Fatalf("the other instance reads %d %v %v, want 2 from Redis", v, ok, err)
	}
}

// TestGoexitInLoaderReachesEveryWaiter: a loader that calls runtime.Goexit (t.FailNow in a test
// double, say) ends its load with an error for every caller, and the key is free again.
func TestGoexitInLoaderReachesEveryWaiter(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprint("cancellable=", cancellable), func(t *testing.T) {
			c := newCache(t, tiered.Options{})
			ctx := context.Background()
			if cancellable {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			entered, release := make(chan struct{}), make(chan struct{})
			loader := func(context.Context) (int, error) {
				close(entered)
				<-release
				runtime.Goexit()
				return 0, nil
			}
			leader := make(chan error, 1)
			go func() {
				_, err := tiered.Load(ctx, c, "k", tiered.Default, loader)
				leader <- err // not reached when the load runs on this goroutine: Goexit ends it
			}()
			<-entered
			base := loadwait.Blocked()
			waiter := make(chan error, 1)
			go func() {
				_, err := tiered.Load(context.Background(), c, "k", tiered.Default, func(context.Context) (int, error) { return 0, errors.New("second loader called") })
				waiter <- err
			}()
			loadwait.Wait(t, base+1)
			close(release)
			if err := <-waiter; err == nil || err.Error() == "second loader called" {
				t.Fatalf("waiter: %v, want the Goexit error", err)
			}
			if cancellable {
				if err := <-leader; err == nil {
					t.Fatal("leader: no error")
				}
			}
			if v, err := tiered.Load(context.Background(), c, "k", tiered.Default, func(context.Context) (int, error) { return 7, nil }); err != nil || v != 7 {
				t.Fatalf("the key is wedged: %d, %v", v, err)
			}
		})
	}
}

// TestRequestContextStartsNoGoroutine: reads with a cancellable context walk the tiers on the
// caller's goroutine; only a load is detached.
func TestRequestContextStartsNoGoroutine(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	c := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL1(t), NoPromote: true}, {Backend: newL2(t, rdb, "redis")}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
	if err := writer.Set(ctx, "k", 1, tiered.Default); err != nil {
		t.Fatal(err)
	}
	before := tiered.Started(c)
	for range 100 {
		if v, ok, err := tiered.Get[int](ctx, c, "k"); err != nil || !ok || v != 1 {
			t.Fatalf("Get = %d %v %v", v, ok, err)
		}
		if v, err := tiered.Load(ctx, c, "k", tiered.Default, func(context.Context) (int, error) { return 0, errors.New("loaded") }); err != nil || v != 1 {
			t.Fatalf("Load = %d %v", v, err)
		}
	}
	if got := tiered.Started(c) - before; got != 0 {
		t.Fatalf("200 L2 hits with a request context started %d goroutines, want 0", got)
	}
	if st := c.Stats(); st.Tiers[1].Hits != 200 {
		t.Fatalf("L2 hits %d, want 200", st.Tiers[1].Hits)
	}
	// A miss detaches its load: one goroutine.
	if _, err := tiered.Load(ctx, c, "miss", tiered.Default, func(context.Context) (int, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	if got := tiered.Started(c) - before; got != 1 {
		t.Fatalf("a miss started %d goroutines, want 1 (its detached load)", got)
	}
}

// tierStarts is an Observer that reports every call to a byte tier as it starts.
type tierStarts struct {
	tiered.NopObserver
	started chan struct{}
}

func (o *tierStarts) StartTier(ctx context.Context, _ tiered.TierInfo, _ tiered.TierCall) context.Context {
	select {
	case o.started <- struct{}{}:
	default:
	}
	return ctx
}

// TestLeaderCancelledDuringWalk: a leader that gives up while it walks the tiers (its Redis read
// is stuck on a frozen server) returns at once, and hands the walk on to its waiter, which gets
// its answer once the server answers again.
func TestLeaderCancelledDuringWalk(t *testing.T) {
	srv := redistest.Start(t) // private: it is frozen
	rdb := srv.Client(t)
	ns := namespace(t)
	obs := &tierStarts{started: make(chan struct{}, 1)}
	c := newCache(t, tiered.Options{Namespace: ns, Observer: obs, Tiers: []tiered.Tier{{Backend: newL1(t), NoPromote: true}, {Backend: newL2(t, rdb, "redis"), Timeout: time.Minute}}})
	ctx := context.Background()
	writer := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
	if err := writer.Set(ctx, "k", 1, tiered.Default); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = srv.Resume()
		}
	}()
	lctx, cancel := context.WithCancel(ctx)
	leader := make(chan error, 1)
	go func() {
		_, _, err := tiered.Get[int](lctx, c, "k")
		leader <- err
	}()
	<-obs.started // the leader is in its Redis read
	base := loadwait.Blocked()
	waiter := make(chan error, 1)
	go func() {
		v, ok, err := tiered.Get[int](ctx, c, "k")
		if err == nil && (!ok || v != 1) {
			err = fmt.Errorf("waiter got %d %v", v, ok)
		}
		waiter <- err
	}()
	loadwait.Wait(t, base+1)
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader: %v", err)
	}
	<-obs.started // the waiter took the walk over: its own Redis read
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	if err := <-waiter; err != nil {
		t.Fatal(err)
	}
}
