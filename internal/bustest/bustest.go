// Package bustest is the acceptance suite of strata's invalidation buses (tiered.Bus). [Run]
// checks one transport, end to end, with real tiered caches (an otter L1 and a Redis L2 each)
// exchanging messages over a real server that the transport's test starts: every message kind
// propagates, own echoes are skipped, malformed messages are ignored and counted, a drop clears
// the in-process tiers once and the resubscription once more, a frozen server is detected, New
// never waits longer than BusOptions.StartTimeout, and stopping is prompt whatever the server
// does. It also checks the transport's side of the tiered.Bus contract directly, with a listener
// that records what it is told. [Propagation] measures the invalidation latency of a
// transport the same way for every bus.
//
// The caches' L2 is the test binary's shared Redis (redistest.Shared): run the suite from a
// package whose TestMain is redistest.Main.
package bustest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// Transport is a bus implementation under test.
type Transport struct {
	// Name names the transport in failure messages ("redis", "nats").
	Name string
	// Start starts a server of the transport, private to one test, and stops it when the test
	// ends.
	Start func(tb testing.TB) Server
	// DetectFreeze is how long the buses made by Server.Bus may take to notice a frozen server
	// (for the buses of this repository, 2 × their health interval). The suite waits ten times
	// as long before it fails.
	DetectFreeze time.Duration
}

// Server is one running server of a transport, and the faults the suite needs of it.
type Server interface {
	// Bus returns a new bus on a client (or connection) of its own to the server, exchanging
	// messages on topic, a name valid both as a Redis channel and a NATS subject. The client is
	// closed when the test ends, after the caches (register its cleanup before they are made).
	Bus(tb testing.TB, topic string) tiered.Bus
	// Inject publishes msg on topic with a bare client, as something other than a cache would.
	Inject(tb testing.TB, topic string, msg []byte)
	// Break cuts every subscription of the server once (the breaker); the buses' clients
	// reconnect on their own. Redis: CLIENT KILL TYPE pubsub; NATS: restart the server.
	Break(tb testing.TB)
	// Stop kills the server; restart starts it again, on the same address.
	Stop(tb testing.TB) (restart func())
	// Freeze pauses the server with SIGSTOP; resume undoes it (calling it twice is harmless).
	Freeze(tb testing.TB) (resume func())
	// Floor returns a function that sends one message on topic with a bare client and waits
	// until a bare subscriber has received it: the transport's floor, for the benchmark.
	Floor(tb testing.TB, topic string) (roundTrip func() error)
}

// Run runs the suite against tr.
func Run(t *testing.T, tr Transport) {
	t.Run("EveryKind", func(t *testing.T) { testEveryKind(t, tr) })
	t.Run("Echoes", func(t *testing.T) { testEchoes(t, tr) })
	t.Run("Malformed", func(t *testing.T) { testMalformed(t, tr) })
	t.Run("Convergence", func(t *testing.T) { testConvergence(t, tr) })
	t.Run("Listener", func(t *testing.T) { testListener(t, tr) })
	t.Run("Drop", func(t *testing.T) { testDrop(t, tr) })
	t.Run("Outage", func(t *testing.T) { testOutage(t, tr) })
	t.Run("Freeze", func(t *testing.T) { testFreeze(t, tr) })
	t.Run("StartTimeout", func(t *testing.T) { testStartTimeout(t, tr) })
}

// seq gives every fixture its own topic and namespace.
var seq atomic.Int64

// fixture is one test's server, topic and namespace.
type fixture struct {
	t     testing.TB
	tr    Transport
	srv   Server
	topic string
	ns    string
	l2    redis.UniversalClient
}

func newFixture(t testing.TB, tr Transport) *fixture {
	t.Helper()
	n := seq.Add(1)
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return &fixture{
		t:     t,
		tr:    tr,
		srv:   tr.Start(t),
		topic: fmt.Sprintf("strata.bustest.t%d", n),
		ns:    fmt.Sprintf("bustest%d:%s:", n, name),
		l2:    redistest.Shared(t).Client(t),
	}
}

// instance is a cache of the fixture and its L1, which the suite inspects.
type instance struct {
	*tiered.Cache
	l1 *ottertier.Backend
}

// cache builds an instance: its own otter L1, the shared Redis L2 under the fixture's namespace,
// its own bus on the fixture's topic. New must end subscribed.
func (f *fixture) cache(edit ...func(*tiered.Options)) *instance {
	f.t.Helper()
	x, _ := f.build(true, edit...)
	return x
}

// build builds an instance as cache does and returns how long tiered.New took; wait requires New
// to end subscribed.
func (f *fixture) build(wait bool, edit ...func(*tiered.Options)) (*instance, time.Duration) {
	t := f.t
	t.Helper()
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l1.Close)
	l2, err := redistier.New(f.l2, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := tiered.Options{
		Tiers:     []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: time.Second}},
		Namespace: f.ns,
		Bus:       f.srv.Bus(t, f.topic),
		BusOptions: tiered.BusOptions{
			// A generous publish budget: the machine running the tests may be loaded.
			PublishTimeout: 2 * time.Second,
			// The second pass is the cache's own business (tiered tests it): off here, so
			// that what an L1 holds depends on the messages alone.
			RecheckAfter: -1,
		},
	}
	for _, e := range edit {
		e(&opts)
	}
	start := time.Now()
	c, err := tiered.New(opts)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if wait && !c.Stats().Invalidation.Subscribed {
		t.Fatalf("%s bus not subscribed after New", f.tr.Name)
	}
	return &instance{Cache: c, l1: l1}, took
}

// holds reports whether the instance's L1 has an entry under key, in whatever state.
func (x *instance) holds(key string) bool {
	_, ok := x.l1.Get(key)
	return ok
}

// value returns the fresh int the instance's L1 serves under key.
func (x *instance) value(key string) (int, bool) {
	v, negative, ok := tiered.Lookup[int](context.Background(), x.Cache, key)
	return v, ok && !negative
}

// load loads key through the instance with a loader returning v.
func (x *instance) load(t testing.TB, key string, v int) int {
	t.Helper()
	got, err := tiered.Load(context.Background(), x.Cache, key, tiered.Default, func(context.Context) (int, error) { return v, nil })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (x *instance) inv() tiered.InvalidationStats { return x.Stats().Invalidation }

// settle waits until every message the instances sent has been handled by each of them (applied
// by the others, skipped by its sender), so that none is still on its way to race what the test
// does next.
func settle(t testing.TB, xs ...*instance) {
	t.Helper()
	eventually(t, 5*time.Second, "every message handled", func() bool {
		var sent uint64
		for _, x := range xs {
			sent += x.inv().Sent
		}
		for _, x := range xs {
			if s := x.inv(); s.Applied+s.EchoesSkipped != sent {
				return false
			}
		}
		return true
	})
}

// eventually polls cond every millisecond until it holds, and fails the test after d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within runs fn and fails the test when it has not returned after d (a hang, not a slow run).
func within(t testing.TB, d time.Duration, what string, fn func()) time.Duration {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		return 0
	}
}
