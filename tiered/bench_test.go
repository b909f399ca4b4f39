package tiered_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

var (
	sinkPayload Payload
	sinkBytes   []byte
)

func loadPayload(context.Context) (Payload, error) { return newPayload(1), nil }

// BenchmarkL1Hit is a typed Load of a ~1 KiB struct already in L1.
func BenchmarkL1Hit(b *testing.B) {
	c := newCache(b, tiered.Options{})
	ctx := context.Background()
	if err := c.Set(ctx, "bench", newPayload(1), tiered.LongTerm); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v, err := tiered.Load(ctx, c, "bench", tiered.LongTerm, loadPayload)
		if err != nil {
			b.Fatal(err)
		}
		sinkPayload = v
	}
}

// BenchmarkOtterBaseline is a raw otter GetIfPresent of the same value: the floor of an L1 hit.
func BenchmarkOtterBaseline(b *testing.B) {
	c := otter.Must(&otter.Options[string, Payload]{MaximumSize: 100_000, ExpiryCalculator: otter.ExpiryWriting[string, Payload](3 * time.Hour)})
	defer c.StopAllGoroutines()
	c.Set("bench", newPayload(1))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v, ok := c.GetIfPresent("bench")
		if !ok {
			b.Fatal("miss")
		}
		sinkPayload = v
	}
}

// BenchmarkL2Hit is an L1 miss answered by Redis, decode included; L1 promotion is off so every
// iteration goes to Redis.
func BenchmarkL2Hit(b *testing.B) {
	srv := redistest.Shared(b)
	rdb := srv.Client(b)
	l1 := newL1(b)
	c := newCache(b, tiered.Options{Namespace: namespace(b), Tiers: []tiered.Tier{
		{Backend: l1, NoPromote: true},
		{Backend: newL2(b, rdb, "redis"), Timeout: 5 * time.Second}, // no spurious timeouts on a busy machine
	}})
	ctx := context.Background()
	if err := c.Set(ctx, "bench", newPayload(1), tiered.LongTerm); err != nil {
		b.Fatal(err)
	}
	l1.Delete("bench")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v, err := tiered.Load(ctx, c, "bench", tiered.LongTerm, loadPayload)
		if err != nil {
			b.Fatal(err)
		}
		sinkPayload = v
	}
	b.StopTimer()
	if s := c.Stats(); s.Tiers[1].Hits < uint64(b.N) || s.Loads != 0 {
		b.Fatalf("not all iterations were L2 hits: %+v", s)
	}
}

// BenchmarkRedisBaseline is a raw go-redis GET of the same bytes BenchmarkL2Hit reads.
func BenchmarkRedisBaseline(b *testing.B) {
	srv := redistest.Shared(b)
	rdb := srv.Client(b)
	ns := namespace(b)
	c := newCache(b, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL2(b, rdb, "redis")}}})
	ctx := context.Background()
	if err := c.Set(ctx, "bench", newPayload(1), tiered.LongTerm); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v, err := rdb.Get(ctx, ns+"bench").Bytes()
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = v
	}
}

// BenchmarkStampede sends 1,000 goroutines at a cold key per iteration and reports how many loads
// that caused per iteration: it must be exactly 1.
func BenchmarkStampede(b *testing.B) {
	srv := redistest.Shared(b)
	c := newCache(b, tiered.Options{Namespace: namespace(b), Tiers: []tiered.Tier{
		{Backend: newL1(b)},
		{Backend: newL2(b, srv.Client(b), "redis")},
	}})
	ctx := context.Background()
	var loads atomic.Int64
	load := func(context.Context) (Payload, error) {
		loads.Add(1)
		time.Sleep(100 * time.Microsecond)
		return newPayload(1), nil
	}
	b.ReportAllocs()
	iter := 0
	for b.Loop() {
		iter++
		key := fmt.Sprintf("stampede:%d", iter)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 1000 {
			wg.Go(func() {
				<-start
				if _, err := tiered.Load(ctx, c, key, tiered.ShortTerm, load); err != nil {
					b.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	b.ReportMetric(float64(loads.Load())/float64(iter), "loads/op")
}
