package tiered_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// BenchmarkFleetStampede: 8 instances (each its own L1 and go-redis client, one Redis) × 100
// goroutines load one cold key at once, a new key per iteration, from a 50 ms source. It reports
// source-calls/op (1 with leases) and the p99 of a waiter's added latency: how much later than
// the callers on the instance that loaded the key (the leader's) the callers on the other
// instances got the value, in ms.
func BenchmarkFleetStampede(b *testing.B) {
	srv := redistest.Shared(b)
	ns := namespace(b)
	const instances, callers = 8, 100
	cs := make([]*tiered.Cache, instances)
	for i := range cs {
		cs[i] = newLeaseCache(b, srv.Client(b), ns)
	}
	ctx := context.Background()
	var calls atomic.Int64
	var added []float64
	lat := make([]time.Duration, instances*callers)
	iter := 0
	for b.Loop() {
		key := fmt.Sprint("cold:", iter)
		iter++
		leader := atomic.Int64{}
		leader.Store(-1)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, c := range cs {
			load := func(ctx context.Context) (int, error) {
				calls.Add(1)
				leader.Store(int64(i))
				time.Sleep(50 * time.Millisecond)
				return i, nil
			}
			for j := range callers {
				wg.Go(func() {
					<-start
					t0 := time.Now()
					if _, err := tiered.Load(ctx, c, key, tiered.Default, load); err != nil {
						b.Error(err)
					}
					lat[i*callers+j] = time.Since(t0)
				})
			}
		}
		close(start)
		wg.Wait()
		l := int(leader.Load())
		if l < 0 {
			b.Fatal("no instance loaded the key")
		}
		// The leader's callers are answered when its load is stored: their median is the
		// reference.
		ref := slices.Clone(lat[l*callers : (l+1)*callers])
		slices.Sort(ref)
		base := ref[len(ref)/2]
		for i := range instances {
			if i == l {
				continue
			}
			for _, d := range lat[i*callers : (i+1)*callers] {
				added = append(added, float64(d-base)/float64(time.Millisecond))
			}
		}
	}
	b.StopTimer()
	slices.Sort(added)
	b.ReportMetric(float64(calls.Load())/float64(iter), "source-calls/op")
	if len(added) > 0 {
		b.ReportMetric(added[len(added)*99/100], "p99-waiter-added-ms")
		b.ReportMetric(added[len(added)/2], "p50-waiter-added-ms")
	}
}

// BenchmarkLeaseMissVsBaseline measures what a lease costs a plain miss: one caller loads a cold
// key through a cache with leases and through one without, on the same Redis, alternating which
// goes first, and reports both mean latencies and their ratio (lease-cost-ratio; the target is at
// most 1.1). With an instant source (source=0) the miss is two Redis round trips either way, so
// the ratio shows the lease's own cost at its worst; source=1ms is a fast real source.
func BenchmarkLeaseMissVsBaseline(b *testing.B) {
	for _, d := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprint("source=", d), func(b *testing.B) { benchLeaseMiss(b, d) })
	}
}

func benchLeaseMiss(b *testing.B, delay time.Duration) {
	srv := redistest.Shared(b)
	ns := namespace(b)
	with := newLeaseCache(b, srv.Client(b), ns+"l:")
	without := newLeaseCache(b, srv.Client(b), ns+"n:", func(o *tiered.Options) { o.Leases = false })
	ctx := context.Background()
	load := func(context.Context) (Payload, error) {
		if delay > 0 {
			time.Sleep(delay)
		}
		return newPayload(1), nil
	}
	miss := func(c *tiered.Cache, key string) time.Duration {
		t0 := time.Now()
		if _, err := tiered.Load(ctx, c, key, tiered.Default, load); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	for i := range 100 { // warm the connections
		miss(with, fmt.Sprint("warm:", i))
		miss(without, fmt.Sprint("warm:", i))
	}
	var tl, tn time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprint("k:", i)
		if i%2 == 0 {
			tl += miss(with, key)
			tn += miss(without, key)
		} else {
			tn += miss(without, key)
			tl += miss(with, key)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(tl.Nanoseconds())/n, "lease-ns/miss")
	b.ReportMetric(float64(tn.Nanoseconds())/n, "plain-ns/miss")
	b.ReportMetric(float64(tl)/float64(tn), "lease-cost-ratio")
}

// BenchmarkLeaseL2HitVsBaseline measures what leases cost an L2 hit of Load (L1 left out of
// promotions, so every call reads Redis): with leases the read of Redis is the script that would
// take the lease on a miss, without them a GET. It reports both mean latencies and their ratio.
func BenchmarkLeaseL2HitVsBaseline(b *testing.B) {
	srv := redistest.Shared(b)
	ns := namespace(b)
	noPromote := func(o *tiered.Options) { o.Tiers[0].NoPromote = true }
	with := newLeaseCache(b, srv.Client(b), ns, noPromote)
	without := newLeaseCache(b, srv.Client(b), ns, noPromote, func(o *tiered.Options) { o.Leases = false })
	ctx := context.Background()
	writer := newLeaseCache(b, srv.Client(b), ns) // so that neither reader holds it in L1
	if err := writer.Set(ctx, "hot", newPayload(1), tiered.Default); err != nil {
		b.Fatal(err)
	}
	load := func(context.Context) (Payload, error) { return Payload{}, fmt.Errorf("loader called on a hit") }
	hit := func(c *tiered.Cache) time.Duration {
		t0 := time.Now()
		if _, err := tiered.Load(ctx, c, "hot", tiered.Default, load); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	for range 100 {
		hit(with)
		hit(without)
	}
	var tl, tn time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			tl += hit(with)
			tn += hit(without)
		} else {
			tn += hit(without)
			tl += hit(with)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(tl.Nanoseconds())/n, "lease-ns/hit")
	b.ReportMetric(float64(tn.Nanoseconds())/n, "plain-ns/hit")
	b.ReportMetric(float64(tl)/float64(tn), "lease-hit-ratio")
}
