package natsbus_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/bustest"
	"github.com/stratacache/strata/internal/natstest"
	"github.com/stratacache/strata/tiered"
	natsbus "github.com/stratacache/strata/tiered/nats"
)

// busHealth is the health interval of the buses under test: short enough for the freeze tests,
// long enough that a loaded machine does not miss a health check.
const busHealth = 500 * time.Millisecond

// natsTransport runs the bus suite on a private nats-server per test.
var natsTransport = bustest.Transport{
	Name:         "nats",
	Start:        func(tb testing.TB) bustest.Server { return natsBusServer{natstest.Start(tb)} },
	DetectFreeze: 2 * busHealth,
}

type natsBusServer struct{ srv *natstest.Server }

// Bus gives each bus a connection of its own (natstest: reconnecting forever, every 20 ms).
func (s natsBusServer) Bus(tb testing.TB, topic string) tiered.Bus {
	tb.Helper()
	bus, err := natsbus.New(s.srv.Conn(tb), natsbus.Options{Subject: topic, HealthInterval: busHealth})
	if err != nil {
		tb.Fatal(err)
	}
	return bus
}

func (s natsBusServer) Inject(tb testing.TB, topic string, msg []byte) {
	tb.Helper()
	nc := s.srv.Conn(tb)
	if err := nc.Publish(topic, msg); err != nil {
		tb.Fatal(err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		tb.Fatal(err)
	}
}

// Break restarts the server: every connection is reset, and reconnects to the new process.
func (s natsBusServer) Break(tb testing.TB) {
	tb.Helper()
	if err := s.srv.Restart(); err != nil {
		tb.Fatal(err)
	}
}

func (s natsBusServer) Stop(tb testing.TB) (restart func()) {
	tb.Helper()
	if err := s.srv.Kill(); err != nil {
		tb.Fatal(err)
	}
	return func() {
		if err := s.srv.Restart(); err != nil {
			tb.Fatal(err)
		}
	}
}

func (s natsBusServer) Freeze(tb testing.TB) (resume func()) {
	tb.Helper()
	if err := s.srv.Pause(); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = s.srv.Resume() }) }
}

// Floor is a bare nats.go publish until a bare subscriber on another connection has received it.
func (s natsBusServer) Floor(tb testing.TB, topic string) func() error {
	tb.Helper()
	pub, subConn := s.srv.Conn(tb), s.srv.Conn(tb)
	sub, err := subConn.SubscribeSync(topic)
	if err != nil {
		tb.Fatal(err)
	}
	if err := subConn.FlushTimeout(5 * time.Second); err != nil { // the server has the subscription
		tb.Fatal(err)
	}
	return func() error {
		if err := pub.Publish(topic, []byte("x")); err != nil {
			return err
		}
		_, err := sub.NextMsg(5 * time.Second)
		return err
	}
}

// TestBusSuite runs the bus acceptance suite on the NATS bus.
func TestBusSuite(t *testing.T) { bustest.Run(t, natsTransport) }

// BenchmarkBusPropagation measures the NATS bus's invalidation propagation (see
// bustest.Propagation).
func BenchmarkBusPropagation(b *testing.B) { bustest.Propagation(b, natsTransport) }
