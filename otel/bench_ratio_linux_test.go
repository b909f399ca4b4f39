package stratotel

import (
	"context"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/stratacache/strata/tiered"
)

// BenchmarkL1HitTracedRatio runs the workloads of BenchmarkL1HitTraced and BenchmarkL1HitUntraced
// in alternating chunks of 10,000 reads and times each chunk in the CPU time of its thread, so
// that neither the load of other processes on a shared machine nor its drift over the run skews
// the comparison. It reports the median of the chunks' ratios (traced/untraced) and the CPU time
// per read of each.
func BenchmarkL1HitTracedRatio(b *testing.B) {
	tp := unsampledProvider(b)
	obs, err := New(WithTracerProvider(tp))
	if err != nil {
		b.Fatal(err)
	}
	benchRatio(b, unsampledRequest(b, tp), obs, 10_000)
}

// BenchmarkL1HitTracedSampledRatio is BenchmarkL1HitTracedRatio for BenchmarkL1HitTracedSampled:
// every read records a span.
func BenchmarkL1HitTracedSampledRatio(b *testing.B) {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()),
	)
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	obs, err := New(WithTracerProvider(tp))
	if err != nil {
		b.Fatal(err)
	}
	ctx, span := tp.Tracer("app").Start(context.Background(), "request")
	b.Cleanup(func() { span.End() })
	benchRatio(b, ctx, obs, 1_000)
}

func benchRatio(b *testing.B, ctx context.Context, obs *Observer, chunk int) {
	plain, traced := benchCache(b, nil), benchCache(b, obs)
	loader := func(context.Context) (User, error) {
		b.Fatal("loader called on an L1 hit")
		return User{}, nil
	}
	run := func(c *tiered.Cache) time.Duration {
		start := threadCPU()
		for range chunk {
			if u, err := tiered.Load(ctx, c, benchKey, tiered.LongTerm, loader); err != nil || u.ID != 1 {
				b.Fatal(u.ID, err)
			}
		}
		return threadCPU() - start
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ratios []float64
	var tu, tt time.Duration
	for b.Loop() {
		u, t := run(plain), run(traced)
		tu, tt = tu+u, tt+t
		if u > 0 {
			ratios = append(ratios, float64(t)/float64(u))
		}
	}
	if len(ratios) == 0 {
		return
	}
	slices.Sort(ratios)
	n := float64(len(ratios) * chunk)
	b.ReportMetric(ratios[len(ratios)/2], "traced/untraced")
	b.ReportMetric(float64(tu.Nanoseconds())/n, "untraced-cpu-ns/read")
	b.ReportMetric(float64(tt.Nanoseconds())/n, "traced-cpu-ns/read")
}

// threadCPU is the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	const clockThreadCPUTime = 3
	var ts syscall.Timespec
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
