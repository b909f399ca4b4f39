package redistier_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/bustest"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// busHealth is the health interval of the buses under test: short enough for the freeze tests,
// long enough that a loaded machine does not miss a health check.
const busHealth = 500 * time.Millisecond

// redisTransport runs the bus suite on a private redis-server per test.
var redisTransport = bustest.Transport{
	Name:         "redis",
	Start:        func(tb testing.TB) bustest.Server { return redisBusServer{redistest.Start(tb)} },
	DetectFreeze: 2 * busHealth,
}

type redisBusServer struct{ srv *redistest.Server }

// Bus gives each bus a client of its own with short timeouts, which bound each reconnection
// attempt against a frozen server.
func (s redisBusServer) Bus(tb testing.TB, topic string) tiered.Bus {
	tb.Helper()
	client := redis.NewClient(&redis.Options{
		Addr:                  s.srv.Addr(),
		DialTimeout:           busHealth,
		ReadTimeout:           busHealth,
		WriteTimeout:          busHealth,
		ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { _ = client.Close() })
	bus, err := redistier.NewBus(client, redistier.BusOptions{Channel: topic, HealthInterval: busHealth})
	if err != nil {
		tb.Fatal(err)
	}
	return bus
}

func (s redisBusServer) Inject(tb testing.TB, topic string, msg []byte) {
	tb.Helper()
	if err := s.srv.Client(tb).Publish(context.Background(), topic, msg).Err(); err != nil {
		tb.Fatal(err)
	}
}

// Break kills every Pub/Sub connection of the server.
func (s redisBusServer) Break(tb testing.TB) {
	tb.Helper()
	n, err := s.srv.Client(tb).ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
	if err != nil || n == 0 {
		tb.Fatalf("CLIENT KILL TYPE pubsub: %d killed, %v", n, err)
	}
}

func (s redisBusServer) Stop(tb testing.TB) (restart func()) {
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

func (s redisBusServer) Freeze(tb testing.TB) (resume func()) {
	tb.Helper()
	if err := s.srv.Pause(); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = s.srv.Resume() }) }
}

// Floor is a bare go-redis PUBLISH until a bare subscriber has received it.
func (s redisBusServer) Floor(tb testing.TB, topic string) func() error {
	tb.Helper()
	ctx := context.Background()
	pub := s.srv.Client(tb)
	sub := s.srv.Client(tb).Subscribe(ctx, topic)
	tb.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		tb.Fatal(err)
	}
	return func() error {
		if err := pub.Publish(ctx, topic, "x").Err(); err != nil {
			return err
		}
		_, err := sub.ReceiveMessage(ctx)
		return err
	}
}

// TestBusSuite runs the bus acceptance suite on the Redis bus.
func TestBusSuite(t *testing.T) { bustest.Run(t, redisTransport) }

// BenchmarkBusPropagation measures the Redis bus's invalidation propagation (see
// bustest.Propagation).
func BenchmarkBusPropagation(b *testing.B) { bustest.Propagation(b, redisTransport) }
