package tiered

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
)

// BenchmarkInvalidationPropagation measures the time from Invalidate on instance A until
// instance B's L1 no longer holds the key, over a real Redis on loopback. It reports the median
// and the 99th percentile in microseconds.
func BenchmarkInvalidationPropagation(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Shared(b)
	ns := testNamespace(b)
	a := newBusCache(b, srv.Client(b), ns)
	r := newBusCache(b, srv.Client(b), ns)
	const keys = 64
	lat := make([]time.Duration, 0, b.N)
	for i := range keys {
		loadInt(b, r, fmt.Sprint("k", i), i)
	}
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprint("k", i%keys)
		b.StopTimer()
		// Put the key back into B's L1 without going through the bus.
		r.l1.Set(key, &item{value: i, staleAt: 1 << 62, expiresAt: 1 << 62}, time.Hour)
		b.StartTimer()
		start := time.Now()
		if err := a.Invalidate(ctx, key); err != nil {
			b.Fatal(err)
		}
		for {
			if _, ok := r.l1.Get(key); !ok {
				break
			}
			runtime.Gosched() // two cores: leave room for the bus goroutine and Redis
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(int(float64(len(lat))*p), len(lat)-1)]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
