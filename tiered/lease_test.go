package tiered_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// newLeaseCache builds one instance of a fleet: its own otter L1 and a Redis L2 on rdb (its own
// client), sharing namespace ns, with leases on.
func newLeaseCache(t testing.TB, rdb redis.UniversalClient, ns string, edit ...func(*tiered.Options)) *tiered.Cache {
	t.Helper()
	o := tiered.Options{
		Tiers:     []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis"), Timeout: 2 * time.Second}},
		Namespace: ns,
		Leases:    true,
	}
	for _, e := range edit {
		e(&o)
	}
	return newCache(t, o)
}

// sumStats adds up a counter over the caches of a fleet.
func sumStats(cs []*tiered.Cache, f func(tiered.Stats) uint64) uint64 {
	var n uint64
	for _, c := range cs {
		n += f(c.Stats())
	}
	return n
}

// stampede runs callers goroutines on each cache, all loading key at once with load, and fails
// the test on any error or wrong value.
func stampede(t *testing.T, cs []*tiered.Cache, callers int, key string, load func(context.Context) (string, error)) {
	t.Helper()
	ctx := context.Background()
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(cs)*callers)
	for _, c := range cs {
		for range callers {
			wg.Go(func() {
				<-start
				v, err := tiered.Load(ctx, c, key, tiered.Default, load)
				if err == nil && v != "value" {
					err = fmt.Errorf("got %q", v)
				}
				if err != nil {
					errs <- err
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestLeaseFleetStampede: 8 instances (each its own L1 and go-redis client) × 100 goroutines miss
// one cold key at once; with leases the source is called once for the whole fleet, on a single
// Redis and on a three-master Cluster.
func TestLeaseFleetStampede(t *testing.T) {
	run := func(t *testing.T, client func() redis.UniversalClient) {
		ns := namespace(t)
		cs := make([]*tiered.Cache, 8)
		for i := range cs {
			cs[i] = newLeaseCache(t, client(), ns)
		}
		for round := range 3 {
			var calls atomic.Int64
			stampede(t, cs, 100, fmt.Sprint("cold:", round), countingLoader(&calls, "value", 50*time.Millisecond))
			if n := calls.Load(); n != 1 {
				t.Fatalf("round %d: %d source calls, want 1", round, n)
			}
		}
		if n := sumStats(cs, func(s tiered.Stats) uint64 { return s.LeasesTaken }); n != 3 {
			t.Fatalf("%d leases taken, want 3", n)
		}
		// The other instances were answered by the holder's value: while they waited for its
		// lease, or by their walk when it came after the holder's write.
		if n := sumStats(cs, func(s tiered.Stats) uint64 { return s.Tiers[1].Hits }); n != 3*7 {
			t.Fatalf("%d loads answered by another instance's load, want %d", n, 3*7)
		}
		for _, c := range cs {
			checkInvariant(t, c.Stats())
		}
	}
	t.Run("Redis", func(t *testing.T) {
		srv := redistest.Start(t)
		run(t, func() redis.UniversalClient { return srv.Client(t) })
	})
	t.Run("Cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t)
		run(t, func() redis.UniversalClient { return cl.Client(t) })
	})
}

// TestLeaseWithoutLeasesStampedes is the control of TestLeaseFleetStampede: without leases each
// instance calls the source once.
func TestLeaseWithoutLeasesStampedes(t *testing.T) {
	srv := redistest.Shared(t)
	ns := namespace(t)
	cs := make([]*tiered.Cache, 4)
	for i := range cs {
		cs[i] = newLeaseCache(t, srv.Client(t), ns, func(o *tiered.Options) { o.Leases = false })
	}
	var calls atomic.Int64
	stampede(t, cs, 20, "cold", countingLoader(&calls, "value", 50*time.Millisecond))
	if n := calls.Load(); n != 4 {
		t.Fatalf("%d source calls, want one per instance (4)", n)
	}
}

const (
	leaseChildAddr = "STRATA_LEASE_CHILD_ADDR"
	leaseChildNS   = "STRATA_LEASE_CHILD_NS"
	leaseTestTTL   = time.Second
)

// TestLeaseHolderKilled: the instance holding a key's lease is another process, killed with
// SIGKILL in the middle of its load. The others get the value once the lease has expired — one
// lease TTL — with exactly one more source call, and no caller sees an error.
func TestLeaseHolderKilled(t *testing.T) {
	if addr := os.Getenv(leaseChildAddr); addr != "" {
		leaseChild(t, addr, os.Getenv(leaseChildNS))
		return
	}
	srv := redistest.Start(t)
	ns := namespace(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseHolderKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), leaseChildAddr+"="+srv.Addr(), leaseChildNS+"="+ns)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	loading := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "LOADING" {
				close(loading)
				break
			}
		}
		for sc.Scan() { // drain until the child is gone
		}
	}()
	select {
	case <-loading:
	case <-time.After(30 * time.Second):
		t.Fatal("the child process did not start its load")
	}
	leaseSeen := time.Now() // the child took the lease before it said so

	cs := make([]*tiered.Cache, 4)
	for i := range cs {
		cs[i] = newLeaseCache(t, srv.Client(t), ns, func(o *tiered.Options) { o.LeaseTTL = leaseTestTTL })
	}
	waiting := make(chan struct{}, len(cs))
	defer tiered.SetLeaseWaitHook(func([]string) { waiting <- struct{}{} })()
	var calls atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		stampede(t, cs, 50, "k", countingLoader(&calls, "value", 20*time.Millisecond))
	}()
	for range cs {
		<-waiting // every instance waits for the child's lease
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	<-done
	elapsed := time.Since(leaseSeen)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d source calls after the holder died, want 1", n)
	}
	if elapsed < leaseTestTTL/2 || elapsed > leaseTestTTL+5*time.Second {
		t.Fatalf("the value came %v after the holder took the lease, want about one lease TTL (%v)", elapsed, leaseTestTTL)
	}
	if n := sumStats(cs, func(s tiered.Stats) uint64 { return s.LeasesTaken }); n != 1 {
		t.Fatalf("%d leases taken after the holder died, want 1", n)
	}
	if n := sumStats(cs, func(s tiered.Stats) uint64 { return s.LeaseTimeouts }); n != 0 {
		t.Fatalf("%d waits timed out", n)
	}
}

// leaseChild is the child process of TestLeaseHolderKilled: it takes the lease of "k", says
// LOADING, and hangs in its loader until it is killed.
func leaseChild(t *testing.T, addr, ns string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	c := newLeaseCache(t, rdb, ns, func(o *tiered.Options) { o.LeaseTTL = leaseTestTTL; o.LoadTimeout = time.Minute })
	_, _ = tiered.Load(context.Background(), c, "k", tiered.Default, func(ctx context.Context) (string, error) {
		fmt.Println("LOADING")
		<-ctx.Done()
		return "", ctx.Err()
	})
	t.Fatal("the child's load returned: it should have been killed")
}

// TestLeaseFailedLoadReleases: a holder whose load fails releases the lease at once, so the
// instance waiting for it loads without waiting out the lease TTL.
func TestLeaseFailedLoadReleases(t *testing.T) {
	srv := redistest.Shared(t)
	ns := namespace(t)
	long := func(o *tiered.Options) { o.LeaseTTL = time.Minute }
	a := newLeaseCache(t, srv.Client(t), ns, long)
	b := newLeaseCache(t, srv.Client(t), ns, long)
	ctx := context.Background()
	waiting := make(chan struct{}, 1)
	defer tiered.SetLeaseWaitHook(func([]string) { waiting <- struct{}{} })()
	boom := errors.New("source down")
	aDone := make(chan error, 1)
	aLoading := make(chan struct{})
	go func() {
		_, err := tiered.Load(ctx, a, "k", tiered.Default, func(context.Context) (string, error) {
			close(aLoading) // a holds the lease
			<-waiting       // b waits for it
			return "", boom
		})
		aDone <- err
	}()
	<-aLoading
	start := time.Now()
	var calls atomic.Int64
	v, err := tiered.Load(ctx, b, "k", tiered.Default, countingLoader(&calls, "value", 0))
	if err != nil || v != "value" || calls.Load() != 1 {
		t.Fatalf("b: %q, %v after %d calls", v, err, calls.Load())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("b waited %v: the failed holder's lease was not released", d)
	}
	if err := <-aDone; !errors.Is(err, boom) {
		t.Fatalf("a: %v", err)
	}
	if st := b.Stats(); st.LeasesTaken != 1 || st.LeaseTimeouts != 0 {
		t.Fatalf("b took %d leases, %d timeouts", st.LeasesTaken, st.LeaseTimeouts)
	}
}

// TestLeaseFencedWrite: a holder whose lease expired and was taken by another instance, which
// stored a newer value, does not store its own over it.
func TestLeaseFencedWrite(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	short := func(o *tiered.Options) { o.LeaseTTL = 100 * time.Millisecond; o.LeaseWait = time.Minute }
	a := newLeaseCache(t, srv.Client(t), ns, short)
	b := newLeaseCache(t, srv.Client(t), ns, short)
	ctx := context.Background()
	release := make(chan struct{})
	aDone := make(chan string, 1)
	aLoading := make(chan struct{})
	go func() {
		v, _ := tiered.Load(ctx, a, "k", tiered.Default, func(context.Context) (string, error) {
			close(aLoading)
			<-release
			return "old", nil
		})
		aDone <- v
	}()
	<-aLoading // b's load finds a's lease and waits it out, then takes it
	v, err := tiered.Load(ctx, b, "k", tiered.Default, func(context.Context) (string, error) { return "new", nil })
	if err != nil || v != "new" {
		t.Fatalf("b: %q, %v", v, err)
	}
	close(release)
	if v := <-aDone; v != "old" {
		t.Fatalf("a's caller got %q, want what a loaded", v)
	}
	if st := a.Stats(); st.LeasesLost != 1 {
		t.Fatalf("a lost %d leases, want 1", st.LeasesLost)
	}
	got, found, err := tiered.Get[string](ctx, newLeaseCache(t, rdb, ns), "k")
	if err != nil || !found || got != "new" {
		t.Fatalf("Redis holds %q (%v, %v), want the newer value", got, found, err)
	}
}

// TestLeaseSetDuringLoad: a value set by another instance while a holder loads (no bus tells the
// holder) fences the holder's write: Redis keeps the value set.
func TestLeaseSetDuringLoad(t *testing.T) {
	srv := redistest.Shared(t)
	ns := namespace(t)
	a := newLeaseCache(t, srv.Client(t), ns)
	b := newLeaseCache(t, srv.Client(t), ns)
	ctx := context.Background()
	release := make(chan struct{})
	aDone := make(chan string, 1)
	aLoading := make(chan struct{})
	go func() {
		v, _ := tiered.Load(ctx, a, "k", tiered.Default, func(context.Context) (string, error) {
			close(aLoading)
			<-release
			return "loaded", nil
		})
		aDone <- v
	}()
	<-aLoading
	if err := b.Set(ctx, "k", "set", tiered.Default); err != nil {
		t.Fatal(err)
	}
	close(release)
	if v := <-aDone; v != "loaded" {
		t.Fatalf("a's caller got %q, want what a loaded", v)
	}
	if st := a.Stats(); st.LeasesLost != 1 {
		t.Fatalf("a lost %d leases, want 1", st.LeasesLost)
	}
	got, found, err := tiered.Get[string](ctx, newLeaseCache(t, srv.Client(t), ns), "k")
	if err != nil || !found || got != "set" {
		t.Fatalf("Redis holds %q (%v, %v), want the value set during the load", got, found, err)
	}
}

// TestLeaseInvalidatedDuringLoad: an invalidation during a load frees the key's lease: the
// instance waiting for it loads anew at once, and the holder's write is a no-op.
func TestLeaseInvalidatedDuringLoad(t *testing.T) {
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	lease := func(c *busConfig) { c.opts.Leases = true; c.opts.LeaseTTL = time.Minute }
	a := newBusCache(t, srv.Client(t), ns, lease)
	b := newBusCache(t, srv.Client(t), ns, lease)
	ctx := context.Background()
	waiting := make(chan struct{}, 1)
	defer tiered.SetLeaseWaitHook(func([]string) { waiting <- struct{}{} })()
	release := make(chan struct{})
	aDone := make(chan string, 1)
	aLoading := make(chan struct{})
	go func() {
		v, _ := tiered.Load(ctx, a, "k", tiered.Default, func(context.Context) (string, error) {
			close(aLoading)
			<-release
			return "before", nil
		})
		aDone <- v
	}()
	<-aLoading
	bDone := make(chan string, 1)
	go func() {
		v, _ := tiered.Load(ctx, b, "k", tiered.Default, func(context.Context) (string, error) { return "after", nil })
		bDone <- v
	}()
	<-waiting // b waits for a's lease
	applied := a.Stats().Invalidation.Applied
	if err := b.Invalidate(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	busEventually(t, 5*time.Second, "a applies the invalidation", func() bool { return a.Stats().Invalidation.Applied > applied })
	// The invalidation freed the key: b loads anew without waiting for a, still loading.
	select {
	case v := <-bDone:
		if v != "after" {
			t.Fatalf("b got %q, want a new load", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b still waits for a's lease after the invalidation")
	}
	close(release)
	if v := <-aDone; v != "before" {
		t.Fatalf("a's caller got %q", v)
	}
	got, found, _ := tiered.Get[string](ctx, newLeaseCache(t, srv.Client(t), ns), "k")
	if !found || got != "after" {
		t.Fatalf("Redis holds %q (%v), want the value loaded after the invalidation", got, found)
	}
	if st := a.Stats(); st.Superseded == 0 {
		t.Fatal("a's write was not skipped")
	}
}

// TestLeaseRedisDown: with Redis unreachable the lease is skipped and each instance loads on its
// own, as without leases.
func TestLeaseRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	ns := namespace(t)
	c := newLeaseCache(t, srv.Client(t), ns, func(o *tiered.Options) { o.Tiers[1].Timeout = 100 * time.Millisecond })
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	for i := range 8 {
		v, err := tiered.Load(context.Background(), c, fmt.Sprint("k", i), tiered.Default, countingLoader(&calls, "value", 0))
		if err != nil || v != "value" {
			t.Fatalf("Load: %q, %v", v, err)
		}
	}
	st := c.Stats()
	if calls.Load() != 8 || st.LeasesTaken != 0 || st.LeasesSkipped != 8 {
		t.Fatalf("%d calls, %d leases taken, %d skipped", calls.Load(), st.LeasesTaken, st.LeasesSkipped)
	}
	if st.Tiers[1].Breaker != tiered.BreakerOpen {
		t.Fatalf("breaker %v, want open", st.Tiers[1].Breaker)
	}
}

// TestLeasePerCall: Strategy.WithLease overrides Options.Leases both ways.
func TestLeasePerCall(t *testing.T) {
	srv := redistest.Shared(t)
	ns := namespace(t)
	ctx := context.Background()
	on := newLeaseCache(t, srv.Client(t), ns)
	off := newLeaseCache(t, srv.Client(t), ns, func(o *tiered.Options) { o.Leases = false })
	load := func(context.Context) (int, error) { return 1, nil }
	if _, err := tiered.Load(ctx, on, "a", tiered.ShortTerm.WithLease(false), load); err != nil {
		t.Fatal(err)
	}
	if _, err := tiered.Load(ctx, off, "b", tiered.Strategy{}.WithLease(true), load); err != nil {
		t.Fatal(err)
	}
	if _, err := tiered.Load(ctx, off, "c", tiered.ShortTerm, load); err != nil {
		t.Fatal(err)
	}
	if n := on.Stats().LeasesTaken; n != 0 {
		t.Fatalf("WithLease(false) took %d leases", n)
	}
	if n := off.Stats().LeasesTaken; n != 1 {
		t.Fatalf("WithLease(true) on a cache without leases took %d leases, want 1", n)
	}
	if err := (tiered.Strategy{}).WithLease(true).Validate(); err != nil {
		t.Fatalf("the zero Strategy with a lease choice: %v", err)
	}
	for _, o := range []tiered.Options{{LeaseTTL: -1}, {LeaseTTL: time.Microsecond}, {LeaseWait: -1}} {
		if _, err := tiered.New(o); !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Fatalf("New(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

// TestLeaseLoadMany: batch loads take a lease per key. Four instances load overlapping batches of
// cold keys at once, each with several goroutines: every key is loaded once in the fleet.
func TestLeaseLoadMany(t *testing.T) {
	srv := redistest.Shared(t)
	ns := namespace(t)
	cs := make([]*tiered.Cache, 4)
	for i := range cs {
		cs[i] = newLeaseCache(t, srv.Client(t), ns)
	}
	var mu sync.Mutex
	loaded := map[string]int{}
	fn := func(_ context.Context, keys []string) (map[string]int, error) {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]int, len(keys))
		for _, k := range keys {
			loaded[k]++
			var n int
			fmt.Sscanf(k, "k%d", &n)
			out[k] = n
		}
		return out, nil
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cs {
		keys := make([]string, 10)
		for j := range keys {
			keys[j] = fmt.Sprint("k", i*5+j)
		}
		for range 5 {
			wg.Go(func() {
				<-start
				got, err := tiered.LoadMany(context.Background(), c, keys, tiered.Default, fn)
				if err != nil || len(got) != len(keys) {
					t.Errorf("LoadMany: %d values, %v", len(got), err)
					return
				}
				for _, k := range keys {
					var n int
					fmt.Sscanf(k, "k%d", &n)
					if got[k] != n {
						t.Errorf("%s = %d", k, got[k])
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if len(loaded) != 25 {
		t.Fatalf("%d keys loaded, want 25", len(loaded))
	}
	for k, n := range loaded {
		if n != 1 {
			t.Fatalf("%s loaded %d times in the fleet, want once", k, n)
		}
	}
}

// TestClaim: a load run outside Load takes the key's lease, another instance waits for it and
// learns that the value was stored, a released lease is taken by the next claim, and a cache
// without leases claims nothing.
func TestClaim(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := namespace(t)
	a := newLeaseCache(t, srv.Client(t), ns)
	b := newLeaseCache(t, srv.Client(t), ns)

	release, stored := a.Claim(ctx, "k", tiered.ShortTerm)
	if stored {
		t.Fatal("a cold key was reported stored")
	}
	waiting := make(chan struct{})
	restore := tiered.SetLeaseWaitHook(func([]string) { close(waiting) })
	waited := make(chan bool)
	go func() {
		_, stored := b.Claim(ctx, "k", tiered.ShortTerm)
		waited <- stored
	}()
	<-waiting // b found the lease held and waits for it
	if err := a.Set(ctx, "k", "v", tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	release()
	if !<-waited {
		t.Fatal("the waiting instance was not told the value was stored")
	}
	restore()
	if s := b.Stats(); s.LeaseWaits != 1 || a.Stats().LeasesTaken != 1 {
		t.Fatalf("waits %d on b, taken %d on a", s.LeaseWaits, a.Stats().LeasesTaken)
	}

	// A holder that stores nothing and releases: the next claim takes the lease at once.
	release, _ = a.Claim(ctx, "other", tiered.ShortTerm)
	release()
	start := time.Now()
	release, stored = b.Claim(ctx, "other", tiered.ShortTerm)
	defer release()
	if stored || b.Stats().LeasesTaken != 1 {
		t.Fatalf("after a release: stored %v, b took %d leases", stored, b.Stats().LeasesTaken)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the released lease took %v to take", d)
	}

	// Leases off for the call, or for the cache: nothing is claimed.
	off := newLeaseCache(t, srv.Client(t), ns, func(o *tiered.Options) { o.Leases = false })
	release, stored = off.Claim(ctx, "cold", tiered.ShortTerm)
	release()
	release, stored2 := a.Claim(ctx, "cold2", tiered.ShortTerm.WithLease(false))
	release()
	if stored || stored2 || off.Stats().LeasesTaken != 0 || a.Stats().LeasesTaken != 2 {
		t.Fatalf("claims without leases took %d and %d", off.Stats().LeasesTaken, a.Stats().LeasesTaken-2)
	}
}
