package stratotel

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/tiered"
)

// The BenchmarkL1Hit workload: a typed Load of a ~1 KiB struct already in L1, called from inside
// a request span. The benchmarks differ only in the instrumentation installed; compare them within
// one run:
//
//	go test -run '^$' -bench 'L1Hit' -benchmem -count 5 ./otel/ |
//		scripts/benchratio L1HitTraced:L1HitUntraced L1HitTracedMetrics:L1HitUntraced L1HitTracedSampled:L1HitUntraced

const benchKey = "bench:user:1"

func benchCache(b testing.TB, obs tiered.Observer) *tiered.Cache {
	b.Helper()
	c, err := tiered.New(tiered.Options{Observer: obs}) // the embedded otter L1, as BenchmarkL1Hit
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Set(context.Background(), benchKey, newUser(1), tiered.LongTerm); err != nil {
		b.Fatal(err)
	}
	return c
}

func benchL1Hit(b *testing.B, ctx context.Context, c *tiered.Cache) {
	loader := func(context.Context) (User, error) {
		b.Fatal("loader called on an L1 hit")
		return User{}, nil
	}
	b.ReportAllocs()
	for b.Loop() {
		u, err := tiered.Load(ctx, c, benchKey, tiered.LongTerm, loader)
		if err != nil || u.ID != 1 {
			b.Fatal(u.ID, err)
		}
	}
}

// unsampledRequest starts a request span with a parent-based sampler that samples 1% of new
// traces, retrying until the request is one of the 99% that are not sampled.
func unsampledRequest(b testing.TB, tp *sdktrace.TracerProvider) context.Context {
	for range 1000 {
		ctx, span := tp.Tracer("app").Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
		b.Cleanup(func() { span.End() })
		if !span.SpanContext().IsSampled() && span.SpanContext().IsValid() {
			return ctx
		}
	}
	b.Fatal("no unsampled request in 1000")
	return nil
}

func unsampledProvider(b testing.TB) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()),
	)
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

// BenchmarkL1HitUntraced is the baseline: no observer installed.
func BenchmarkL1HitUntraced(b *testing.B) {
	tp := unsampledProvider(b)
	benchL1Hit(b, unsampledRequest(b, tp), benchCache(b, nil))
}

// BenchmarkL1HitTraced: the observer installed on an SDK tracer provider with parent-based
// sampling, inside a request that was not sampled (the common case in production). Metrics go to
// the global meter provider, the no-op one here.
func BenchmarkL1HitTraced(b *testing.B) {
	tp := unsampledProvider(b)
	obs, err := New(WithTracerProvider(tp))
	if err != nil {
		b.Fatal(err)
	}
	benchL1Hit(b, unsampledRequest(b, tp), benchCache(b, obs))
}

// BenchmarkL1HitTracedMetrics is BenchmarkL1HitTraced with an SDK meter provider too, the cache's
// counters registered with ObserveCache.
func BenchmarkL1HitTracedMetrics(b *testing.B) {
	tp := unsampledProvider(b)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	obs, err := New(WithTracerProvider(tp), WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	c := benchCache(b, obs)
	reg, err := obs.ObserveCache(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Unregister() })
	benchL1Hit(b, unsampledRequest(b, tp), c)
}

// BenchmarkL1HitTracedSampled: every request sampled, so every hit records a strata.load span
// (exported in batches to an exporter that drops them).
func BenchmarkL1HitTracedSampled(b *testing.B) {
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
	benchL1Hit(b, ctx, benchCache(b, obs))
}
