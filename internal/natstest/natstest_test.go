package natstest

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestMissingBinaryFailsWithHint: without nats-server the helper fails, naming the package to
// install, rather than skipping.
func TestMissingBinaryFailsWithHint(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := fallbackDirs
	fallbackDirs = nil
	t.Cleanup(func() { fallbackDirs = saved })
	s, err := New(Options{})
	if err == nil {
		s.Close()
		t.Fatal("New started a server without nats-server")
	}
	if !strings.Contains(err.Error(), "apt-get install -y nats-server") {
		t.Fatalf("error %q has no install hint", err)
	}
}

// TestServerLifecycle publishes through a started server, then pauses, resumes, kills and
// restarts it on the same port.
func TestServerLifecycle(t *testing.T) {
	s := Start(t)
	nc := s.Conn(t)
	sub, err := nc.SubscribeSync("life")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(what string) {
		t.Helper()
		if err := nc.Publish("life", []byte(what)); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil || string(m.Data) != what {
			t.Fatalf("%s: received %v, %v", what, m, err)
		}
	}
	roundTrip("started")

	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := nc.FlushTimeout(200 * time.Millisecond); err == nil {
		t.Fatal("a paused server answered a PING")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("no answer after Resume: %v", err)
	}

	port := s.Port()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Pid() != 0 {
		t.Fatal("a killed server has a pid")
	}
	if err := s.ready(); err == nil {
		t.Fatal("a killed server greets clients")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Port() != port {
		t.Fatalf("restarted on port %d, not %d", s.Port(), port)
	}
	deadline := time.Now().Add(10 * time.Second)
	for nc.Status() != nats.CONNECTED {
		if time.Now().After(deadline) {
			t.Fatalf("the connection did not come back: %v", nc.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	roundTrip("restarted")
	if nc.Stats().Reconnects == 0 {
		t.Fatal("no reconnection counted after a restart")
	}
}
