package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stratacache/strata/internal/busframe"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// busNsSeq gives every test cache group its own namespace on the shared server.
var busNsSeq atomic.Int64

func busNamespace(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("t%d:%s:", busNsSeq.Add(1), name)
}

// busConfig is what newBusCache builds an instance from.
type busConfig struct {
	opts      tiered.Options
	bus       redistier.BusOptions
	busClient redis.UniversalClient // the bus's own client; nil means the L2's
	noBus     bool
}

// withoutBus builds an instance without a bus.
func withoutBus(c *busConfig) { c.noBus = true }

// newBusCache builds an instance with its own otter L1 and a redis L2 on rdb, sharing namespace
// ns, with a Redis bus on the namespace's channel. edit adjusts the configuration before New.
func newBusCache(t testing.TB, rdb redis.UniversalClient, ns string, edit ...func(*busConfig)) *tiered.Cache {
	t.Helper()
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := busConfig{
		opts: tiered.Options{
			Tiers:     []tiered.Tier{{Backend: busL1(t)}, {Backend: l2, Timeout: time.Second}},
			Namespace: ns,
			// Generous publish budget: the machine running the tests may be loaded.
			BusOptions: tiered.BusOptions{PublishTimeout: 2 * time.Second},
		},
		bus: redistier.BusOptions{Channel: ns + redistier.DefaultBusChannel, HealthInterval: 200 * time.Millisecond},
	}
	for _, e := range edit {
		e(&cfg)
	}
	if !cfg.noBus {
		client := cfg.busClient
		if client == nil {
			client = rdb
		}
		if cfg.opts.Bus, err = redistier.NewBus(client, cfg.bus); err != nil {
			t.Fatal(err)
		}
	}
	c, err := tiered.New(cfg.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if !cfg.noBus && !c.Stats().Invalidation.Subscribed {
		t.Fatal("bus not subscribed after New")
	}
	return c
}

// busL1 returns an otter L1 closed when the test ends.
func busL1(t testing.TB) *ottertier.Backend {
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l1.Close)
	return l1
}

// busL1Value returns what the cache's L1 holds under key.
func busL1Value(c *tiered.Cache, key string) (any, bool) { return tiered.L1Value(c, key) }

// busEventually polls cond every millisecond until it holds or d passes.
func busEventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func busLoadInt(t testing.TB, c *tiered.Cache, key string, v int) int {
	t.Helper()
	got, err := tiered.Load(context.Background(), c, key, tiered.Default, func(context.Context) (int, error) { return v, nil })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBusPropagatesEveryKind(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	a := newBusCache(t, srv.Client(t), ns)
	b := newBusCache(t, srv.Client(t), ns)
	c := newBusCache(t, srv.Client(t), ns)
	all := []*tiered.Cache{a, b, c}
	others := []*tiered.Cache{b, c}

	t.Run("keys", func(t *testing.T) {
		for _, x := range all {
			busLoadInt(t, x, "k1", 1)
			busLoadInt(t, x, "k2", 2)
		}
		if err := a.Invalidate(ctx, "k1", "k2"); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			busEventually(t, time.Second, "k1 and k2 leave every L1", func() bool {
				_, ok1 := busL1Value(x, "k1")
				_, ok2 := busL1Value(x, "k2")
				return !ok1 && !ok2
			})
		}
		if n, _ := srv.Client(t).Exists(ctx, ns+"k1", ns+"k2").Result(); n != 0 {
			t.Fatalf("%d keys left in redis", n)
		}
	})

	t.Run("update", func(t *testing.T) {
		for _, x := range all {
			busLoadInt(t, x, "u", 1)
		}
		if err := a.Update(ctx, "u", 2, tiered.MediumTerm); err != nil {
			t.Fatal(err)
		}
		for _, x := range others {
			busEventually(t, time.Second, "the new value in L1", func() bool {
				v, ok := busL1Value(x, "u")
				return ok && v == 2
			})
			if got := busLoadInt(t, x, "u", -1); got != 2 {
				t.Fatalf("Load after update = %d", got)
			}
			exp, _ := tiered.L1ExpiresAt(x, "u")
			if rem := time.Until(time.Unix(0, exp)); rem < 59*time.Minute || rem > time.Hour {
				t.Fatalf("updated entry lives %v, want the strategy's hour", rem)
			}
		}
		// Another instance updates it in turn.
		if err := b.Update(ctx, "u", 3, tiered.MediumTerm); err != nil {
			t.Fatal(err)
		}
		for _, x := range []*tiered.Cache{a, c} {
			busEventually(t, time.Second, "the second update in L1", func() bool {
				v, ok := busL1Value(x, "u")
				return ok && v == 3
			})
		}
	})

	t.Run("update of a key not held", func(t *testing.T) {
		if err := a.Update(ctx, "fresh", 7, tiered.Default); err != nil {
			t.Fatal(err)
		}
		for _, x := range others {
			if got := busLoadInt(t, x, "fresh", -1); got != 7 {
				t.Fatalf("Load = %d, want the updated 7 from redis", got)
			}
		}
	})

	t.Run("pattern", func(t *testing.T) {
		for _, x := range all {
			busLoadInt(t, x, "p:1", 1)
			busLoadInt(t, x, "p:2", 2)
			busLoadInt(t, x, "q:1", 3)
		}
		if err := a.InvalidatePattern(ctx, "p:*"); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			busEventually(t, time.Second, "p:* leaves every L1", func() bool {
				_, ok1 := busL1Value(x, "p:1")
				_, ok2 := busL1Value(x, "p:2")
				return !ok1 && !ok2
			})
			if _, ok := busL1Value(x, "q:1"); !ok {
				t.Fatal("q:1 was removed by p:*")
			}
		}
		rdb := srv.Client(t)
		if n, _ := rdb.Exists(ctx, ns+"p:1", ns+"p:2").Result(); n != 0 {
			t.Fatalf("%d p:* keys left in redis", n)
		}
		if n, _ := rdb.Exists(ctx, ns+"q:1").Result(); n != 1 {
			t.Fatal("q:1 removed from redis")
		}
	})

	t.Run("tags", func(t *testing.T) {
		// a writes t1 with the tag; b and c only read it (promoted from redis, no tags known).
		if err := a.Set(ctx, "t1", 1, tiered.Default, tiered.Tags("red")); err != nil {
			t.Fatal(err)
		}
		// c loads t2 with the tag itself; b holds an untagged key.
		if _, err := tiered.Load(ctx, c, "t2", tiered.Default, func(context.Context) (int, error) { return 2, nil }, tiered.Tags("red", "blue")); err != nil {
			t.Fatal(err)
		}
		for _, x := range others {
			busLoadInt(t, x, "t1", -1)
			busLoadInt(t, x, "t2", -1)
			busLoadInt(t, x, "plain", 5)
		}
		if err := a.InvalidateTags(ctx, "red"); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			busEventually(t, time.Second, "tagged keys leave every L1", func() bool {
				_, ok1 := busL1Value(x, "t1")
				_, ok2 := busL1Value(x, "t2")
				return !ok1 && !ok2
			})
		}
		if _, ok := busL1Value(b, "plain"); !ok {
			t.Fatal("untagged key removed")
		}
		if n, _ := srv.Client(t).Exists(ctx, ns+"t1", ns+"t2", ns+tiered.TagKeyPrefix+"red").Result(); n != 0 {
			t.Fatalf("%d tagged keys or index left in redis", n)
		}
	})

	t.Run("clear", func(t *testing.T) {
		for _, x := range all {
			busLoadInt(t, x, "c1", 1)
		}
		if err := a.InvalidateAll(ctx); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			busEventually(t, time.Second, "L1 empty", func() bool {
				_, ok := busL1Value(x, "c1")
				return !ok
			})
		}
		if n, _ := srv.Client(t).Exists(ctx, ns+"c1").Result(); n != 0 {
			t.Fatal("InvalidateAll left a key in redis")
		}
	})

	sa, sb := a.Stats().Invalidation, b.Stats().Invalidation
	if sa.Sent == 0 || sa.EchoesSkipped != sa.Sent {
		t.Errorf("sender stats %+v: every message sent should come back once as a skipped echo", sa)
	}
	if sb.Applied == 0 || sb.Malformed != 0 || sb.Failed != 0 {
		t.Errorf("receiver stats %+v", sb)
	}
	if sa.InstanceID == sb.InstanceID || sa.InstanceID == "" {
		t.Errorf("instance ids %q and %q", sa.InstanceID, sb.InstanceID)
	}
	if st := b.Stats(); st.Invalidation.Applied != sb.Applied {
		t.Errorf("Stats().Invalidation = %+v", st.Invalidation)
	}
}

// TestBusConvergence sends 10,000 updates with no faults: every instance ends on the last value
// and every message is received.
func TestBusConvergence(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	a := newBusCache(t, srv.Client(t), ns)
	b := newBusCache(t, srv.Client(t), ns)
	c := newBusCache(t, srv.Client(t), ns)
	const keys, updates = 10, 10_000
	for _, x := range []*tiered.Cache{b, c} {
		for k := range keys {
			busLoadInt(t, x, fmt.Sprint("n", k), 0)
		}
	}
	// Readers run concurrently on b and c to exercise the receiving side under -race.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, x := range []*tiered.Cache{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				for k := range keys {
					_, _, _ = tiered.Get[int](ctx, x, fmt.Sprint("n", k))
				}
			}
		}()
	}
	// Five writers, each owning two keys: the updates of one key are sequential, so its last
	// value is well defined, and the run stays short.
	const writers = 5
	var wwg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for i := 1; i <= updates; i++ {
				if i%writers != w {
					continue
				}
				if err := a.Update(ctx, fmt.Sprint("n", i%keys), i, tiered.Default); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wwg.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, x := range []*tiered.Cache{b, c} {
		busEventually(t, 10*time.Second, "all updates received", func() bool {
			return x.Stats().Invalidation.Applied == updates
		})
		for k := range keys {
			want := updates - keys + k
			if k == 0 {
				want = updates
			}
			v, ok := busL1Value(x, fmt.Sprint("n", k))
			if !ok || v != want {
				t.Fatalf("n%d: L1 holds %v (%v), want %d", k, v, ok, want)
			}
		}
		if s := x.Stats().Invalidation; s.Received != updates || s.Failed != 0 || s.Drops != 0 {
			t.Fatalf("stats %+v", s)
		}
	}
}

// TestBusReconnectClearsL1 cuts the subscriptions with CLIENT KILL TYPE pubsub, updates a key
// while they are down, and checks that the cut instance never serves the old value afterwards.
func TestBusReconnectClearsL1(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t) // private: CLIENT KILL TYPE pubsub must not hit other tests
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	*tiered.BusDownHook = func() {
		entered <- struct{}{}
		<-release
	}
	t.Cleanup(func() { *tiered.BusDownHook = nil })
	ns := busNamespace(t)
	a := newBusCache(t, srv.Client(t), ns)
	b := newBusCache(t, srv.Client(t), ns)
	busLoadInt(t, b, "k", 1)

	admin := srv.Client(t)
	if n, err := admin.ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n != 2 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d %v", n, err)
	}
	<-entered // a cache handled the drop (L1 cleared) and is held
	<-entered // so is the other
	// While both subscriptions are down, a changes the key: b cannot hear it.
	if err := a.Update(ctx, "k", 2, tiered.Default); err != nil {
		t.Fatal(err)
	}
	if _, ok := busL1Value(b, "k"); ok {
		t.Fatal("b still holds k in L1 after the drop was detected")
	}
	if got := busLoadInt(t, b, "k", -1); got != 2 {
		t.Fatalf("b serves %d while its bus is down, want 2", got)
	}
	close(release)
	busEventually(t, 5*time.Second, "b resubscribed", func() bool {
		s := b.Stats().Invalidation
		return s.Resubscribes == 1 && s.Subscribed
	})
	if got := busLoadInt(t, b, "k", -1); got != 2 {
		t.Fatalf("b serves %d after resubscribing, want 2", got)
	}
	s := b.Stats().Invalidation
	if s.Drops != 1 || s.L1Clears < 2 {
		t.Fatalf("stats after reconnect %+v", s)
	}
	// The bus works again.
	if err := a.Update(ctx, "k", 3, tiered.Default); err != nil {
		t.Fatal(err)
	}
	busEventually(t, time.Second, "update after reconnect", func() bool {
		v, ok := busL1Value(b, "k")
		return ok && v == 3
	})
}

// TestBusSilentDrop freezes the server: the subscription gets no answer to its ping and the L1
// is cleared within the documented bound of 2 × HealthInterval.
func TestBusSilentDrop(t *testing.T) {
	srv := redistest.Start(t)
	ns := busNamespace(t)
	// The bus gets a client of its own with short timeouts, which bound each reconnection
	// attempt against the frozen server.
	busClient := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = busClient.Close() })
	b := newBusCache(t, srv.Client(t), ns, func(c *busConfig) { c.busClient = busClient })
	busLoadInt(t, b, "k", 1)
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = srv.Resume()
		}
	}()
	busEventually(t, 3*time.Second, "L1 cleared while the server is frozen", func() bool {
		_, ok := busL1Value(b, "k")
		return !ok
	})
	took := time.Since(paused)
	if bound := 2*200*time.Millisecond + 500*time.Millisecond; took > bound {
		t.Errorf("cleared after %v, bound %v", took, bound)
	}
	// Stay frozen for several intervals: the bus keeps clearing L1 and starts over on a new
	// connection, and must still come back once the server answers.
	time.Sleep(1200 * time.Millisecond)
	// While it is down, what this instance loads stays in L1, for at most DownL1TTL (1 s).
	busLoadInt(t, b, "during", 1)
	if ttl, ok := tiered.L1TTL(b, "during"); !ok || ttl > time.Second {
		t.Fatalf("a value loaded while the bus is down is kept in L1 for %v (%v), want at most 1s", ttl, ok)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	busEventually(t, 5*time.Second, "resubscribed", func() bool {
		s := b.Stats().Invalidation
		return s.Subscribed && s.Resubscribes >= 1
	})
	if s := b.Stats().Invalidation; s.Drops < 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBusIgnoresMalformedMessages(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	a := newBusCache(t, srv.Client(t), ns)
	b := newBusCache(t, srv.Client(t), ns)
	raw := srv.Client(t)
	ch := ns + redistier.DefaultBusChannel
	good := busframe.Encode(&busframe.Message{Kind: busframe.Keys, Sender: "x", Keys: []string{"k"}})
	for _, p := range []string{"", "hello", "SI", string(good[:len(good)-1]), string(append(good, 0)), "SI\x02\x01\x01x\x01\x01k", "SI\x01\x09\x01x"} {
		if err := raw.Publish(ctx, ch, p).Err(); err != nil {
			t.Fatal(err)
		}
	}
	busLoadInt(t, b, "k", 1)
	if err := a.Invalidate(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	busEventually(t, time.Second, "the valid message after the bad ones applied", func() bool {
		_, ok := busL1Value(b, "k")
		return !ok
	})
	if s := b.Stats().Invalidation; s.Malformed != 7 || s.Applied != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBusAuditStream(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	a := newBusCache(t, srv.Client(t), ns, func(c *busConfig) {
		c.bus.AuditStream = ns + "audit"
		c.bus.AuditMaxLen = 5
	})
	for i := range 300 {
		if err := a.Invalidate(ctx, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.InvalidatePattern(ctx, "x*"); err != nil {
		t.Fatal(err)
	}
	rdb := srv.Client(t)
	n, err := rdb.XLen(ctx, ns+"audit").Result()
	if err != nil || n < 5 || n > 200 {
		t.Fatalf("audit stream has %d entries (%v), want about 5", n, err)
	}
	last, err := rdb.XRevRangeN(ctx, ns+"audit", "+", "-", 1).Result()
	if err != nil || len(last) != 1 || last[0].Values["kind"] != "pattern" || last[0].Values["pattern"] != "x*" || last[0].Values["sender"] != a.Stats().Invalidation.InstanceID {
		t.Fatalf("last audit entry %+v %v", last, err)
	}
}

func TestBusOptionsValidation(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	bus, err := redistier.NewBus(rdb, redistier.BusOptions{Channel: busNamespace(t) + "ch"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tiered.New(tiered.Options{Bus: bus, BusOptions: tiered.BusOptions{InstanceID: strings.Repeat("x", 256)}}); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("a 256-byte instance id: %v", err)
	}
	if _, err := tiered.New(tiered.Options{Bus: bus, BusOptions: tiered.BusOptions{DownL1TTL: -1}}); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("negative DownL1TTL: %v", err)
	}
	if _, err := redistier.NewBus(rdb, redistier.BusOptions{AuditMaxLen: -1}); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("negative AuditMaxLen: %v", err)
	}
	if _, err := redistier.NewBus(nil, redistier.BusOptions{}); !errors.Is(err, redistier.ErrNilClient) {
		t.Fatalf("nil client: %v", err)
	}
	// A bus over an L1-only cache works, and Close leaves nothing running.
	c, err := tiered.New(tiered.Options{Namespace: busNamespace(t), Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Stats().Invalidation.Subscribed {
		t.Fatal("not subscribed")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(context.Background(), "k"); err != tiered.ErrClosed {
		t.Fatalf("Invalidate after Close: %v", err)
	}
}

// TestBusStartsWhileRedisIsDown: New does not fail; the late subscription clears L1.
func TestBusStartsWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	bus, err := redistier.NewBus(rdb, redistier.BusOptions{Channel: busNamespace(t) + "ch"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tiered.New(tiered.Options{Namespace: busNamespace(t), Bus: bus, BusOptions: tiered.BusOptions{StartTimeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Stats().Invalidation.Subscribed {
		t.Fatal("subscribed to a dead server")
	}
	busLoadInt(t, c, "k", 1)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	busEventually(t, 5*time.Second, "subscribed after the server came up", func() bool { return c.Stats().Invalidation.Subscribed })
	if _, ok := busL1Value(c, "k"); ok {
		t.Fatal("an entry written before the subscription survived it")
	}
}

// TestBusIdleIsHealthy: an idle subscription is pinged, answers, and is not taken for a drop.
func TestBusIdleIsHealthy(t *testing.T) {
	srv := redistest.Shared(t)
	c := newBusCache(t, srv.Client(t), busNamespace(t), func(c *busConfig) { c.bus.HealthInterval = 50 * time.Millisecond })
	busLoadInt(t, c, "k", 1)
	time.Sleep(500 * time.Millisecond) // ten idle intervals, each answered by a ping
	s := c.Stats().Invalidation
	if s.Drops != 0 || s.L1Clears != 0 || !s.Subscribed {
		t.Fatalf("idle bus stats %+v", s)
	}
	if _, ok := busL1Value(c, "k"); !ok {
		t.Fatal("an idle bus cleared L1")
	}
}

// TestBusRecheck simulates the cache-aside race: a read that fetched the old value before the
// change stores it in L1 just after the message was applied. The second pass removes it, on the
// receivers and on the sender, and leaves an update's own entry alone.
func TestBusRecheck(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	ns := busNamespace(t)
	fast := func(c *busConfig) { c.opts.BusOptions.RecheckAfter = 50 * time.Millisecond }
	a := newBusCache(t, srv.Client(t), ns, fast)
	b := newBusCache(t, srv.Client(t), ns, fast)
	stale := func(c *tiered.Cache, key string) {
		tiered.PutL1(c, key, 1)
	}

	busLoadInt(t, b, "k", 1)
	if err := a.Invalidate(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	busEventually(t, time.Second, "k applied on b", func() bool { _, ok := busL1Value(b, "k"); return !ok })
	stale(b, "k") // the late promotion, on the receiver
	stale(a, "k") // and on the sender
	busEventually(t, time.Second, "the late copies removed by the second pass", func() bool {
		_, okA := busL1Value(a, "k")
		_, okB := busL1Value(b, "k")
		return !okA && !okB
	})

	busLoadInt(t, b, "u", 1)
	if err := a.Update(ctx, "u", 2, tiered.Default); err != nil {
		t.Fatal(err)
	}
	passes := tiered.RecheckPasses(b)
	busEventually(t, time.Second, "update applied on b", func() bool { v, _ := busL1Value(b, "u"); return v == 2 })
	busEventually(t, time.Second, "the update's second pass on b", func() bool { return tiered.RecheckPasses(b) > passes })
	if v, _ := busL1Value(b, "u"); v != 2 {
		t.Fatalf("the second pass removed the update's own entry (L1 holds %v)", v)
	}
	if err := a.Update(ctx, "u", 3, tiered.Default); err != nil {
		t.Fatal(err)
	}
	busEventually(t, time.Second, "second update applied on b", func() bool { v, _ := busL1Value(b, "u"); return v == 3 })
	stale(b, "u")
	busEventually(t, time.Second, "the late copy of u removed", func() bool { _, ok := busL1Value(b, "u"); return !ok })
	if got := busLoadInt(t, b, "u", -1); got != 3 {
		t.Fatalf("b reads %d after the second pass, want 3", got)
	}
}
