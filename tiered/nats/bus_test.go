package natsbus_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stratacache/strata/internal/natstest"
	"github.com/stratacache/strata/tiered"
	natsbus "github.com/stratacache/strata/tiered/nats"
)

// events records what a subscription tells its listener.
type events struct {
	mu   sync.Mutex
	list []string
	errs []error
}

func (e *events) add(ev string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

func (e *events) Message(msg []byte) { e.add("msg:"+string(msg), nil) }
func (e *events) Down(err error)     { e.add("down", err) }
func (e *events) Up()                { e.add("up", nil) }

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

func (e *events) last() string {
	l := e.get()
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newBus(t *testing.T, nc *nats.Conn, o natsbus.Options) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.New(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func subscribe(t *testing.T, b *natsbus.Bus) (*events, func()) {
	t.Helper()
	ev := &events{}
	stop, err := b.Subscribe(ev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	waitFor(t, 5*time.Second, "Up", func() bool { return ev.last() == "up" })
	return ev, stop
}

func publish(b *natsbus.Bus, msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return b.Publish(ctx, []byte(msg))
}

func TestNewValidates(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Conn(t)
	if _, err := natsbus.New(nil, natsbus.Options{}); !errors.Is(err, natsbus.ErrNilConn) || !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("nil connection: %v", err)
	}
	for _, subject := range []string{"a..b", ".a", "a.", "a.*", ">", "a.>", "a b", "a\tb"} {
		if _, err := natsbus.New(nc, natsbus.Options{Subject: subject}); !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Errorf("subject %q: %v", subject, err)
		}
	}
	if _, err := natsbus.New(nc, natsbus.Options{HealthInterval: -time.Second}); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Errorf("negative HealthInterval: %v", err)
	}
	if _, err := natsbus.New(srv.Conn(t, nats.NoEcho()), natsbus.Options{}); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Errorf("a NoEcho connection: %v", err)
	}
	closed := srv.Conn(t)
	closed.Close()
	if _, err := natsbus.New(closed, natsbus.Options{}); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("a closed connection: %v", err)
	}
	b := newBus(t, nc, natsbus.Options{})
	if b.Subject() != natsbus.DefaultSubject {
		t.Errorf("default subject %q", b.Subject())
	}
	if b := newBus(t, nc, natsbus.Options{Subject: "shop.strata-invalidate_1"}); b.Subject() != "shop.strata-invalidate_1" {
		t.Errorf("subject %q", b.Subject())
	}
	if _, err := b.Subscribe(nil); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Errorf("nil listener: %v", err)
	}
	late := srv.Conn(t)
	lb := newBus(t, late, natsbus.Options{})
	late.Close()
	if _, err := lb.Subscribe(&events{}); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("Subscribe on a closed connection: %v", err)
	}
}

// TestPublishNeverBuffers: a message published while the connection is down fails at once and
// is never delivered later, when nats.go has reconnected and flushed its reconnection buffer.
func TestPublishNeverBuffers(t *testing.T) {
	srv := natstest.Start(t)
	pubConn := srv.Conn(t)
	pub := newBus(t, pubConn, natsbus.Options{Subject: "nobuf"})
	sub := newBus(t, srv.Conn(t), natsbus.Options{Subject: "nobuf"})
	ev, _ := subscribe(t, sub)
	if err := publish(pub, "before"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the message before the outage", func() bool { return slices.Contains(ev.get(), "msg:before") })
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Down", func() bool { return ev.last() == "down" })
	waitFor(t, 5*time.Second, "the publisher's connection lost", func() bool { return pubConn.Status() != nats.CONNECTED })
	if err := publish(pub, "lost"); !errors.Is(err, nats.ErrDisconnected) {
		t.Fatalf("publish while disconnected: %v, want nats.ErrDisconnected", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Up", func() bool { return ev.last() == "up" })
	waitFor(t, 10*time.Second, "a publish after the restart", func() bool { return publish(pub, "after") == nil })
	waitFor(t, 5*time.Second, "the message after the restart", func() bool { return slices.Contains(ev.get(), "msg:after") })
	if got := ev.get(); !slices.Equal(got[:4], []string{"up", "msg:before", "down", "up"}) || slices.Contains(got, "msg:lost") {
		t.Fatalf("listener was told %q", got)
	}
}

// TestPublishHonoursContext: Publish returns when its context ends, with a frozen server or an
// ended context; without a deadline it still returns.
func TestPublishHonoursContext(t *testing.T) {
	srv := natstest.Start(t)
	b := newBus(t, srv.Conn(t), natsbus.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Publish(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with an ended context: %v", err)
	}
	if err := b.Publish(context.Background(), []byte("x")); err != nil {
		t.Fatalf("Publish without a deadline: %v", err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Resume() }()
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Publish(ctx, []byte("x")) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish to a frozen server: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish to a frozen server did not return with its context")
	}
}

// TestClosedConnectionReportsDownOnce: the caller closes the connection under a live
// subscription; the listener is told once, and stop still returns.
func TestClosedConnectionReportsDownOnce(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Conn(t)
	b := newBus(t, nc, natsbus.Options{HealthInterval: 50 * time.Millisecond})
	ev, stop := subscribe(t, b)
	nc.Close()
	waitFor(t, 5*time.Second, "Down", func() bool { return ev.last() == "down" })
	time.Sleep(300 * time.Millisecond) // six health checks, each failing on the closed connection
	stop()
	if got := ev.get(); !slices.Equal(got, []string{"up", "down"}) {
		t.Fatalf("listener was told %q", got)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.errs) != 1 || !errors.Is(ev.errs[0], nats.ErrConnectionClosed) {
		t.Fatalf("Down errors %v", ev.errs)
	}
}

// TestIdleIsHealthy: an idle subscription is checked, answers, and is not taken for a drop; the
// same checks notice when the server freezes.
func TestIdleIsHealthy(t *testing.T) {
	srv := natstest.Start(t)
	ev, _ := subscribe(t, newBus(t, srv.Conn(t), natsbus.Options{HealthInterval: 100 * time.Millisecond}))
	time.Sleep(600 * time.Millisecond) // six health checks
	if got := ev.get(); !slices.Equal(got, []string{"up"}) {
		t.Fatalf("listener of an idle bus was told %q", got)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Resume() }()
	waitFor(t, 5*time.Second, "Down while the server is frozen", func() bool { return ev.last() == "down" })
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Up once the server answers", func() bool { return ev.last() == "up" })
	if got := ev.get(); !slices.Equal(got, []string{"up", "down", "up"}) {
		t.Fatalf("listener was told %q", got)
	}
}

// TestStopEndsTheSubscription: after stop, the server no longer routes the subject to the
// connection, and other subscriptions on it go on.
func TestStopEndsTheSubscription(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Conn(t)
	b := newBus(t, nc, natsbus.Options{Subject: "stop"})
	first, stopFirst := subscribe(t, b)
	second, _ := subscribe(t, b)
	if err := publish(b, "both"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both subscriptions' message", func() bool {
		return slices.Contains(first.get(), "msg:both") && slices.Contains(second.get(), "msg:both")
	})
	stopFirst()
	stopFirst() // a second stop does nothing
	if err := publish(b, "one"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the remaining subscription's message", func() bool { return slices.Contains(second.get(), "msg:one") })
	if slices.Contains(first.get(), "msg:one") {
		t.Fatal("a stopped subscription was told a message")
	}
	if n := nc.NumSubscriptions(); n != 1 {
		t.Fatalf("%d subscriptions left on the connection, want 1", n)
	}
}
