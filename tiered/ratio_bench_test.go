package tiered_test

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// side is one workload of an interleaved benchmark: op runs the i-th operation.
type side struct {
	name string
	op   func(i int)
}

// interleave runs b.N operations of a target and of its baseline in alternating blocks (the
// first block of each pair alternating too), so that the noise of a shared machine falls on both
// alike. It reports, per operation, the wall and process CPU time of each (the CPU of every
// thread: goroutines the target starts are counted), and the medians of the per-pair ratios
// target ÷ baseline as x-wall and x-cpu.
func interleave(b *testing.B, block int, target, base side) {
	b.Helper()
	type cost struct{ wall, cpu time.Duration }
	run := func(s side, from, n int) cost {
		cpu0, t0 := processCPU(), time.Now()
		for i := from; i < from+n; i++ {
			s.op(i)
		}
		return cost{time.Since(t0), processCPU() - cpu0}
	}
	var tt, tb cost
	var wr, cr []float64
	b.ResetTimer()
	for from, pair := 0, 0; from < b.N; from, pair = from+block, pair+1 {
		n := min(block, b.N-from)
		var ct, cb cost
		if pair%2 == 0 {
			ct, cb = run(target, from, n), run(base, from, n)
		} else {
			cb, ct = run(base, from, n), run(target, from, n)
		}
		tt.wall, tt.cpu, tb.wall, tb.cpu = tt.wall+ct.wall, tt.cpu+ct.cpu, tb.wall+cb.wall, tb.cpu+cb.cpu
		if cb.wall > 0 {
			wr = append(wr, float64(ct.wall)/float64(cb.wall))
		}
		if cb.cpu > 0 && ct.cpu > 0 {
			cr = append(cr, float64(ct.cpu)/float64(cb.cpu))
		}
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(tt.wall), target.name+"-ns/op")
	b.ReportMetric(per(tb.wall), base.name+"-ns/op")
	b.ReportMetric(per(tt.cpu), target.name+"-cpu-ns/op")
	b.ReportMetric(per(tb.cpu), base.name+"-cpu-ns/op")
	b.ReportMetric(median(wr), "x-wall")
	b.ReportMetric(median(cr), "x-cpu")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// processCPU is the CPU time of the whole process, every thread.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// l2Cache is an L1 that never keeps what it reads over Redis: every read of a stored key is an
// L2 hit.
func l2Cache(b *testing.B) (*tiered.Cache, *ottertier.Backend) {
	srv := redistest.Shared(b)
	l1 := newL1(b)
	return newCache(b, tiered.Options{Namespace: namespace(b), Tiers: []tiered.Tier{
		{Backend: l1, NoPromote: true},
		{Backend: newL2(b, srv.Client(b), "redis"), Timeout: 5 * time.Second},
	}}), l1
}

// BenchmarkL2HitCtxRatio alternates blocks of L2 hits through tiered.Get with a cancellable
// context (what every HTTP and gRPC handler has) and with context.Background(): x-wall and x-cpu
// are request-context ÷ background.
func BenchmarkL2HitCtxRatio(b *testing.B) {
	c, l1 := l2Cache(b)
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	if err := c.Set(bg, "bench", newPayload(1), tiered.LongTerm); err != nil {
		b.Fatal(err)
	}
	l1.Delete("bench")
	get := func(ctx context.Context) func(int) {
		return func(int) {
			v, ok, err := tiered.Get[Payload](ctx, c, "bench")
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			sinkPayload = v
		}
	}
	b.ReportAllocs()
	interleave(b, 200, side{"reqctx", get(ctx)}, side{"background", get(bg)})
	if s := c.Stats(); s.Loads != 0 || s.Tiers[1].Hits < uint64(2*b.N) {
		b.Fatalf("not all reads were L2 hits: %+v", s)
	}
}

// BenchmarkL2MissLoadCtxRatio alternates blocks of tiered.Load calls of new keys — a miss in
// both tiers, then a load written to both — with a cancellable context and with
// context.Background(): x-wall and x-cpu are request-context ÷ background. With an instant
// source (source=0s) the ratio shows the cost of detaching the load at its worst; source=1ms is a
// fast real source.
func BenchmarkL2MissLoadCtxRatio(b *testing.B) {
	for _, d := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprint("source=", d), func(b *testing.B) { benchMissLoadCtx(b, d) })
	}
}

func benchMissLoadCtx(b *testing.B, delay time.Duration) {
	c, _ := l2Cache(b)
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	v := newPayload(1)
	load := func(context.Context) (Payload, error) {
		if delay > 0 {
			time.Sleep(delay)
		}
		return v, nil
	}
	do := func(ctx context.Context, prefix string) func(int) {
		return func(i int) {
			got, err := tiered.Load(ctx, c, fmt.Sprintf("%s:%d", prefix, i), tiered.LongTerm, load)
			if err != nil {
				b.Fatal(err)
			}
			sinkPayload = got
		}
	}
	b.ReportAllocs()
	block := 100
	if delay > 0 {
		block = 10
	}
	interleave(b, block, side{"reqctx", do(ctx, "r")}, side{"background", do(bg, "b")})
	if s := c.Stats(); s.Loads < uint64(2*b.N) {
		b.Fatalf("not every call loaded: %+v", s)
	}
}

// l1Pair is a cache and a raw otter cache holding the same 1 KiB value under "bench".
func l1Pair(b *testing.B) (*tiered.Cache, *otter.Cache[string, Payload]) {
	c := newCache(b, tiered.Options{})
	if err := c.Set(context.Background(), "bench", newPayload(1), tiered.LongTerm); err != nil {
		b.Fatal(err)
	}
	o := otter.Must(&otter.Options[string, Payload]{MaximumSize: 100_000, ExpiryCalculator: otter.ExpiryWriting[string, Payload](3 * time.Hour)})
	b.Cleanup(func() { o.StopAllGoroutines() })
	o.Set("bench", newPayload(1))
	return c, o
}

func otterSide(b *testing.B, o *otter.Cache[string, Payload]) side {
	return side{"otter", func(int) {
		v, ok := o.GetIfPresent("bench")
		if !ok {
			b.Fatal("miss")
		}
		sinkPayload = v
	}}
}

// BenchmarkL1HitVsOtter alternates blocks of typed L1 hits — tiered.Load and tiered.Get — with
// raw otter GetIfPresent calls of the same value: x-wall is strata ÷ otter.
func BenchmarkL1HitVsOtter(b *testing.B) {
	ctx := context.Background()
	b.Run("Load", func(b *testing.B) {
		c, o := l1Pair(b)
		b.ReportAllocs()
		interleave(b, 10_000, side{"load", func(int) {
			v, err := tiered.Load(ctx, c, "bench", tiered.LongTerm, loadPayload)
			if err != nil {
				b.Fatal(err)
			}
			sinkPayload = v
		}}, otterSide(b, o))
	})
	b.Run("Get", func(b *testing.B) {
		c, o := l1Pair(b)
		b.ReportAllocs()
		interleave(b, 10_000, side{"get", func(int) {
			v, ok, err := tiered.Get[Payload](ctx, c, "bench")
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			sinkPayload = v
		}}, otterSide(b, o))
	})
}

// BenchmarkL1HitParallel is BenchmarkL1Hit from every P at once (run with -cpu 1,2 beside
// BenchmarkOtterParallel): its throughput scales with GOMAXPROCS only if no cache line is written
// by every reader.
func BenchmarkL1HitParallel(b *testing.B) {
	c, _ := l1Pair(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tiered.Load(ctx, c, "bench", tiered.LongTerm, loadPayload); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOtterParallel is BenchmarkOtterBaseline from every P at once.
func BenchmarkOtterParallel(b *testing.B) {
	_, o := l1Pair(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := o.GetIfPresent("bench"); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkL2HitVsRedis alternates blocks of L2 hits through tiered.Get (decode included) with
// raw go-redis GETs of the same stored bytes: x-wall and x-cpu are strata ÷ raw GET.
func BenchmarkL2HitVsRedis(b *testing.B) {
	srv := redistest.Shared(b)
	rdb := srv.Client(b)
	ns := namespace(b)
	l1 := newL1(b)
	c := newCache(b, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{
		{Backend: l1, NoPromote: true},
		{Backend: newL2(b, rdb, "redis"), Timeout: 5 * time.Second},
	}})
	ctx := context.Background()
	if err := c.Set(ctx, "bench", newPayload(1), tiered.LongTerm); err != nil {
		b.Fatal(err)
	}
	l1.Delete("bench")
	b.ReportAllocs()
	interleave(b, 200, side{"strata", func(int) {
		v, ok, err := tiered.Get[Payload](ctx, c, "bench")
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		sinkPayload = v
	}}, side{"redis", func(int) {
		v, err := rdb.Get(ctx, ns+"bench").Bytes()
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = v
	}})
}
