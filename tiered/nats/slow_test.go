package natsbus

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stratacache/strata/internal/natstest"
)

// blocking is a listener whose first Message blocks until release is closed.
type blocking struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	events  []string
	downErr error
}

func (b *blocking) Message(msg []byte) {
	b.once.Do(func() { <-b.release })
	b.mu.Lock()
	b.events = append(b.events, "msg")
	b.mu.Unlock()
}

func (b *blocking) Down(err error) {
	b.mu.Lock()
	b.events = append(b.events, "down")
	b.downErr = err
	b.mu.Unlock()
}

func (b *blocking) Up() {
	b.mu.Lock()
	b.events = append(b.events, "up")
	b.mu.Unlock()
}

func (b *blocking) get() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.events)
}

// TestSlowConsumerReportsLoss: messages that nats.go drops while the listener is busy are a loss:
// Down once, then Up once the subscription is confirmed again.
func TestSlowConsumerReportsLoss(t *testing.T) {
	saved := msgBuffer
	msgBuffer = 16
	t.Cleanup(func() { msgBuffer = saved })
	srv := natstest.Start(t)
	b, err := New(srv.Conn(t), Options{Subject: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	l := &blocking{release: make(chan struct{})}
	stop, err := b.Subscribe(l)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	wait := func(what string, cond func([]string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond(l.get()) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10s: %s (%q)", what, l.get())
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait("Up", func(ev []string) bool { return slices.Equal(ev, []string{"up"}) })
	pub := srv.Conn(t)
	const sent = 200
	for range sent {
		if err := pub.Publish("slow", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The first message holds the listener; the others fill the buffer and overflow it once the
	// connection has read them all.
	deadline := time.Now().Add(10 * time.Second)
	for b.nc.Stats().InMsgs < sent {
		if time.Now().After(deadline) {
			t.Fatalf("the connection read %d messages of %d", b.nc.Stats().InMsgs, sent)
		}
		time.Sleep(time.Millisecond)
	}
	close(l.release)
	wait("Down then Up", func(ev []string) bool {
		i := slices.Index(ev, "down")
		return i > 0 && slices.Contains(ev[i:], "up")
	})
	ev := l.get()
	if strings.Count(strings.Join(ev, " "), "down") != 1 {
		t.Fatalf("listener was told %q, want one Down", ev)
	}
	if n := strings.Count(strings.Join(ev, " "), "msg"); n >= sent {
		t.Fatalf("%d messages delivered of %d, yet a loss was reported", n, sent)
	}
	l.mu.Lock()
	downErr := l.downErr
	l.mu.Unlock()
	if !errors.Is(downErr, nats.ErrSlowConsumer) {
		t.Fatalf("Down(%v), want nats.ErrSlowConsumer", downErr)
	}
}
