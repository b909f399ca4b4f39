package bustest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
)

// recorder is a tiered.BusListener that records what a transport tells it, and whether the
// transport broke the contract: two calls at once, or a call after stop returned.
type recorder struct {
	mu      sync.Mutex
	events  []string // "up", "down", "msg:" + the message
	calls   atomic.Int32
	overlap atomic.Bool
	stopped atomic.Bool
	late    atomic.Int32
}

func (r *recorder) record(ev string) {
	if r.calls.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.calls.Add(-1)
	if r.stopped.Load() {
		r.late.Add(1)
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) Message(msg []byte) { r.record("msg:" + string(msg)) }
func (r *recorder) Down(error)         { r.record("down") }
func (r *recorder) Up()                { r.record("up") }

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) last() string {
	ev := r.snapshot()
	if len(ev) == 0 {
		return ""
	}
	return ev[len(ev)-1]
}

func (r *recorder) has(ev string) bool { return slices.Contains(r.snapshot(), ev) }

// check fails the test if the transport called the recorder twice at once or after stop.
func (r *recorder) check(t testing.TB) {
	t.Helper()
	if r.overlap.Load() {
		t.Error("the transport called the listener from two goroutines at once")
	}
	if n := r.late.Load(); n > 0 {
		t.Errorf("the transport called the listener %d times after stop returned", n)
	}
}

// subscribe subscribes r to bus, failing the test if Subscribe does not return at once.
func subscribe(t testing.TB, bus tiered.Bus, r *recorder) func() {
	t.Helper()
	var (
		stop func()
		err  error
	)
	within(t, 5*time.Second, "Subscribe", func() { stop, err = bus.Subscribe(r) })
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		within(t, 5*time.Second, "stop", stop)
		r.stopped.Store(true)
	}
}

// publish publishes msg with a deadline of d.
func publish(bus tiered.Bus, msg string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return bus.Publish(ctx, []byte(msg))
}

// testListener checks the transport against the tiered.Bus contract with a recording listener:
// Up when subscribed, messages in order, Down once for an outage however many reconnection
// attempts fail, Up again when it ends, nothing after stop.
func testListener(t *testing.T, tr Transport) {
	f := newFixture(t, tr)
	bus, pub := f.srv.Bus(t, f.topic), f.srv.Bus(t, f.topic)
	rec := &recorder{}
	stop := subscribe(t, bus, rec)
	eventually(t, 5*time.Second, "Up after Subscribe", func() bool { return rec.last() == "up" })
	for _, m := range []string{"m1", "m2", "m3"} {
		if err := publish(pub, m, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "three messages", func() bool { return rec.has("msg:m3") })

	restart := f.srv.Stop(t)
	eventually(t, 5*time.Second, "Down after the server was killed", func() bool { return rec.last() == "down" })
	// Let the transport fail to reconnect several times.
	time.Sleep(600 * time.Millisecond)
	var err error
	within(t, 5*time.Second, "Publish to a stopped server", func() { err = publish(pub, "lost", 500*time.Millisecond) })
	if err == nil {
		t.Error("Publish to a stopped server reported no error")
	}
	restart()
	eventually(t, 10*time.Second, "Up after the server came back", func() bool { return rec.last() == "up" })
	if got, want := rec.snapshot(), []string{"up", "msg:m1", "msg:m2", "msg:m3", "down", "up"}; !slices.Equal(got, want) {
		t.Fatalf("listener was told %q, want %q", got, want)
	}
	// Messages flow again (the publisher's own client may still be reconnecting).
	eventually(t, 10*time.Second, "a message after the outage", func() bool {
		_ = publish(pub, "m4", 500*time.Millisecond)
		return rec.has("msg:m4")
	})

	stop()
	// A second subscriber sees a later message: had the first subscription survived stop, it
	// would have been told too.
	other := &recorder{}
	stopOther := subscribe(t, f.srv.Bus(t, f.topic), other)
	eventually(t, 5*time.Second, "the second subscriber up", func() bool { return other.last() == "up" })
	if err := publish(pub, "after", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the second subscriber's message", func() bool { return other.has("msg:after") })
	stopOther()
	rec.check(t)
	other.check(t)
	if rec.has("msg:after") {
		t.Fatal("a stopped subscription delivered a message")
	}
}

// testDrop cuts the subscriptions once: each cache clears its L1 when it notices, and once more
// when it is subscribed again; then the bus works as before.
func testDrop(t *testing.T, tr Transport) {
	ctx := context.Background()
	f := newFixture(t, tr)
	a, b := f.cache(), f.cache()
	for _, x := range []*instance{a, b} {
		x.load(t, "k", 1)
	}
	f.srv.Break(t)
	for _, x := range []*instance{a, b} {
		eventually(t, 10*time.Second, "resubscribed after the drop", func() bool {
			s := x.inv()
			return s.Subscribed && s.Resubscribes == 1
		})
		if s := x.inv(); s.Drops != 1 || s.Resubscribes != 1 || s.L1Clears != 2 {
			t.Fatalf("stats after one drop %+v: want 1 drop, 1 resubscription, 2 L1 clears", s)
		}
		if x.holds("k") {
			t.Fatal("an entry from before the drop survived it")
		}
	}
	// The bus works as before. (A key of its own: a message still on its way about another key
	// could keep b's load of it out of L1.)
	b.load(t, "after", 1)
	if err := a.Update(ctx, "after", 2, tiered.Default); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "an update after the drop", func() bool { v, ok := b.value("after"); return ok && v == 2 })
}

// testOutage keeps the server down for a while: a change made meanwhile cannot be broadcast,
// the cache that missed it serves it from the L2, keeps what it stores in L1 for at most
// DownL1TTL, and drops it when it is subscribed again.
func testOutage(t *testing.T, tr Transport) {
	ctx := context.Background()
	f := newFixture(t, tr)
	const downTTL = 30 * time.Second // longer than the test: only the resubscription removes entries
	a := f.cache()
	b := f.cache(func(o *tiered.Options) { o.BusOptions.DownL1TTL = downTTL })
	b.load(t, "k", 1)

	restart := f.srv.Stop(t)
	// The cache counts the drop, then clears L1 and counts the clear.
	eventually(t, 10*time.Second, "the drop noticed", func() bool { s := b.inv(); return s.Drops == 1 && s.L1Clears == 1 })
	if b.holds("k") {
		t.Fatal("L1 not cleared when the drop was noticed")
	}
	if err := a.Update(ctx, "k", 2, tiered.Default); !errors.Is(err, tiered.ErrBroadcast) {
		t.Fatalf("Update while the bus is down: %v, want ErrBroadcast", err)
	}
	if got := b.load(t, "k", -1); got != 2 {
		t.Fatalf("b serves %d while its bus is down, want 2 from the L2", got)
	}
	if left, ok := b.l1.ExpiresAfter("k"); !ok || left > downTTL {
		t.Fatalf("an entry stored while the bus is down lives %v in L1 (%v), want at most %v", left, ok, downTTL)
	}
	time.Sleep(500 * time.Millisecond) // reconnection attempts fail meanwhile
	restart()
	for _, x := range []*instance{a, b} {
		eventually(t, 10*time.Second, "resubscribed", func() bool { s := x.inv(); return s.Subscribed && s.Resubscribes == 1 })
	}
	if b.holds("k") {
		t.Fatal("an entry stored while the bus was down survived the resubscription")
	}
	if s := b.inv(); s.Drops != 1 || s.Resubscribes != 1 || s.L1Clears != 2 {
		t.Fatalf("stats after one outage %+v: want 1 drop, 1 resubscription, 2 L1 clears", s)
	}
	b.load(t, "after", 1)
	if err := a.Update(ctx, "after", 2, tiered.Default); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "an update after the outage", func() bool { v, ok := b.value("after"); return ok && v == 2 })
}

// testFreeze pauses the server: the drop is noticed while it is frozen, publishing, subscribing,
// stopping and closing all return, and the caches recover when it resumes.
func testFreeze(t *testing.T, tr Transport) {
	ctx := context.Background()
	f := newFixture(t, tr)
	b := f.cache(func(o *tiered.Options) { o.BusOptions.PublishTimeout = 300 * time.Millisecond })
	closing := f.cache()
	b.load(t, "k", 1)
	spare := f.srv.Bus(t, f.topic)

	resume := f.srv.Freeze(t)
	t.Cleanup(resume)
	frozen := time.Now()
	eventually(t, 10*tr.DetectFreeze, "the frozen server noticed", func() bool { s := b.inv(); return s.Drops == 1 && s.L1Clears == 1 })
	t.Logf("%s: frozen server noticed after %v (transport bound %v)", tr.Name, time.Since(frozen).Round(time.Millisecond), tr.DetectFreeze)
	if b.holds("k") {
		t.Fatal("L1 not cleared when the frozen server was noticed")
	}
	var err error
	took := within(t, 5*time.Second, "Invalidate on a frozen server", func() { err = b.Invalidate(ctx, "x") })
	if !errors.Is(err, tiered.ErrBroadcast) {
		t.Fatalf("Invalidate on a frozen server: %v, want ErrBroadcast", err)
	}
	t.Logf("%s: a publish to the frozen server returned after %v (PublishTimeout 300ms)", tr.Name, took.Round(time.Millisecond))
	rec := &recorder{}
	stop := subscribe(t, spare, rec)
	stop()
	rec.check(t)
	took = within(t, 5*time.Second, "Close on a frozen server", func() { _ = closing.Close() })
	t.Logf("%s: Close returned after %v on the frozen server", tr.Name, took.Round(time.Millisecond))

	resume()
	eventually(t, 10*time.Second, "resubscribed after the server resumed", func() bool {
		s := b.inv()
		return s.Subscribed && s.Resubscribes == 1
	})
	if s := b.inv(); s.Drops != 1 {
		t.Fatalf("stats after one freeze %+v: want 1 drop", s)
	}
}

// testStartTimeout: New waits for the subscription at most StartTimeout, with the server down or
// frozen, and the cache works once the server is back; what it stored before is dropped then.
func testStartTimeout(t *testing.T, tr Transport) {
	const wait = 300 * time.Millisecond
	short := func(o *tiered.Options) { o.BusOptions.StartTimeout = wait }
	check := func(t *testing.T, f *fixture, back func()) {
		x, took := f.build(false, short)
		if took > wait+2*time.Second {
			t.Errorf("New took %v with StartTimeout %v", took, wait)
		}
		if x.inv().Subscribed {
			t.Fatal("subscribed to a server that is not answering")
		}
		x.load(t, "k", 1)
		if !x.holds("k") {
			t.Fatal("a cache started without its bus keeps nothing in L1")
		}
		back()
		eventually(t, 10*time.Second, "subscribed once the server answers", func() bool { return x.inv().Subscribed })
		if x.holds("k") {
			t.Fatal("an entry stored before the first subscription survived it")
		}
	}
	t.Run("server down", func(t *testing.T) {
		f := newFixture(t, tr)
		check(t, f, f.srv.Stop(t))
	})
	t.Run("server frozen", func(t *testing.T) {
		f := newFixture(t, tr)
		resume := f.srv.Freeze(t)
		t.Cleanup(resume)
		check(t, f, resume)
	})
	t.Run("no wait", func(t *testing.T) {
		f := newFixture(t, tr)
		x, _ := f.build(false, func(o *tiered.Options) { o.BusOptions.StartTimeout = -1 })
		eventually(t, 10*time.Second, "subscribed", func() bool { return x.inv().Subscribed })
	})
}
