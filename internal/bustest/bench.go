package bustest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// Propagation measures, for a transport, the time from Invalidate on instance A until
// instance B's L1 no longer holds the key, and reports its median and 99th percentile in
// microseconds (p50-µs, p99-µs). It has the shape of tiered's BenchmarkInvalidationPropagation:
// Invalidate includes the L2's UNLINK (on the shared Redis), which must land before the other
// instances drop their copy, then the publish, the delivery and the apply.
//
// For scale on a shared, noisy machine it also reports, measured interleaved in the same run, the
// transport's floor (Server.Floor): a bare client's message until a bare subscriber has received
// it (raw-p50-µs, raw-p99-µs).
func Propagation(b *testing.B, tr Transport) {
	ctx := context.Background()
	f := newFixture(b, tr)
	a, r := f.cache(), f.cache()
	floor := f.srv.Floor(b, f.topic+".raw")

	lat := make([]time.Duration, 0, b.N)
	raw := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		// A new key each time, so that the second pass of an earlier invalidation (RecheckAfter)
		// never removes the key before it is measured.
		key := fmt.Sprint("k", i)
		b.StopTimer()
		r.load(b, key, i)
		// The transport's floor, interleaved so that both see the same noise.
		start := time.Now()
		if err := floor(); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(start))
		b.StartTimer()

		start = time.Now()
		if err := a.Invalidate(ctx, key); err != nil {
			b.Fatal(err)
		}
		for r.holds(key) {
			// Poll with short sleeps, not a busy loop: on two cores a spinning goroutine keeps
			// the runtime from polling the network and would delay the very message measured.
			// This costs a resolution of a few tens of microseconds.
			time.Sleep(10 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(percentile(lat, 0.50), "p50-µs")
	b.ReportMetric(percentile(lat, 0.99), "p99-µs")
	b.ReportMetric(percentile(raw, 0.50), "raw-p50-µs")
	b.ReportMetric(percentile(raw, 0.99), "raw-p99-µs")
}

// percentile returns the p-quantile of d in microseconds.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[min(int(float64(len(d))*p), len(d)-1)]) / float64(time.Microsecond)
}
