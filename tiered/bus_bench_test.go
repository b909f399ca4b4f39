package tiered_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// BenchmarkInvalidationPropagation measures the time from Invalidate on instance A until
// instance B's L1 no longer holds the key, over a real Redis on loopback, and reports its median
// and 99th percentile in microseconds (p50-µs, p99-µs).
//
// For scale on a shared, noisy machine it also reports, measured interleaved in the same run,
// the floor of any Pub/Sub design: a bare go-redis PUBLISH until a bare subscriber has received
// it (raw-p50-µs, raw-p99-µs). Invalidate adds one round trip before it (the UNLINK in Redis,
// which must land before other instances drop their copy) and the apply after it.
func BenchmarkInvalidationPropagation(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Shared(b)
	ns := busNamespace(b)
	a := newBusCache(b, srv.Client(b), ns)
	r := newBusCache(b, srv.Client(b), ns)

	pub := srv.Client(b)
	sub := srv.Client(b).Subscribe(ctx, ns+"raw")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		b.Fatal(err)
	}

	lat := make([]time.Duration, 0, b.N)
	raw := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		// A new key each time, so that the second pass of an earlier invalidation (RecheckAfter)
		// never removes the key before it is measured.
		key := fmt.Sprint("k", i)
		b.StopTimer()
		// Put the key into B's L1 without going through the bus.
		tiered.PutL1(r, key, i)
		// The raw Pub/Sub floor, interleaved so that both see the same noise.
		start := time.Now()
		if err := pub.Publish(ctx, ns+"raw", "x").Err(); err != nil {
			b.Fatal(err)
		}
		if _, err := sub.ReceiveMessage(ctx); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(start))
		b.StartTimer()

		start = time.Now()
		if err := a.Invalidate(ctx, key); err != nil {
			b.Fatal(err)
		}
		for {
			if _, ok := tiered.L1Value(r, key); !ok {
				break
			}
			// Poll with short sleeps, not a busy loop: on two cores a spinning goroutine keeps
			// the runtime from polling the network and would delay the very message measured.
			// This costs a resolution of a few tens of microseconds.
			time.Sleep(10 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[min(int(float64(len(d))*p), len(d)-1)]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(lat, 0.50), "p50-µs")
	b.ReportMetric(pct(lat, 0.99), "p99-µs")
	b.ReportMetric(pct(raw, 0.50), "raw-p50-µs")
	b.ReportMetric(pct(raw, 0.99), "raw-p99-µs")
}
