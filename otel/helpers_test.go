package stratotel

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// harness is an SDK tracer provider recording every span in memory, an SDK meter provider read on
// demand, and an Observer on both.
type harness struct {
	sr     *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	obs    *Observer
	app    trace.Tracer
}

func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	h := &harness{sr: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.sr), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	h.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() {
		_ = h.tp.Shutdown(context.Background())
		_ = h.mp.Shutdown(context.Background())
	})
	obs, err := New(append([]Option{WithTracerProvider(h.tp), WithMeterProvider(h.mp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.obs = obs
	h.app = h.tp.Tracer("app")
	return h
}

// cacheConfig adjusts the cache a test builds.
type cacheConfig struct {
	rdb        *redis.Client
	namespace  string
	l1Entries  int
	timeout    time.Duration
	breaker    tiered.BreakerOptions
	bus        bool // a Redis bus on the namespace's channel, with a short health interval
	codec      tiered.Codec
	noObserver bool
	leases     bool          // Options.Leases
	leaseWait  time.Duration // Options.LeaseWait
}

// newCache builds an otter L1 over a Redis L2 observed by h.obs. Its namespace is the test's
// name unless cfg says otherwise, so tests can share the Redis server.
func (h *harness) newCache(t testing.TB, cfg cacheConfig) *tiered.Cache {
	t.Helper()
	if cfg.rdb == nil {
		cfg.rdb = redistest.Shared(t).Client(t)
	}
	if cfg.namespace == "" {
		cfg.namespace = fmt.Sprintf("otel-test:%s:%d:", t.Name(), time.Now().UnixNano())
	}
	l1, err := ottertier.New(ottertier.Options{MaxEntries: cfg.l1Entries, StatsRecorder: h.obs.EvictionRecorder("otter")})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := redistier.New(cfg.rdb, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := tiered.Options{
		Tiers:     []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: cfg.timeout}},
		Namespace: cfg.namespace,
		Observer:  h.obs,
		Breaker:   cfg.breaker,
		Codec:     cfg.codec,
		Leases:    cfg.leases,
		LeaseWait: cfg.leaseWait,
	}
	if cfg.bus {
		// A short health interval so that drops are noticed quickly, and a generous publish
		// budget for a loaded machine.
		bus, err := redistier.NewBus(cfg.rdb, redistier.BusOptions{Channel: cfg.namespace + redistier.DefaultBusChannel, HealthInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		opts.Bus, opts.BusOptions = bus, tiered.BusOptions{PublishTimeout: 2 * time.Second}
	}
	if cfg.noObserver {
		opts.Observer = nil
	}
	c, err := tiered.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		l1.Close()
	})
	return c
}

// request runs fn inside a sampled request span and returns that span's context.
func (h *harness) request(ctx context.Context, fn func(ctx context.Context)) trace.SpanContext {
	ctx, span := h.app.Start(ctx, "request", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	fn(ctx)
	return span.SpanContext()
}

// tree renders the spans under the span sc as an indented list of names, children ordered by
// start time, each followed by the attributes named in show that it carries.
func (h *harness) tree(sc trace.SpanContext, show ...attribute.Key) string {
	spans := h.sr.Ended()
	var b strings.Builder
	var walk func(parent trace.SpanID, depth int)
	walk = func(parent trace.SpanID, depth int) {
		var kids []sdktrace.ReadOnlySpan
		for _, s := range spans {
			if s.Parent().SpanID() == parent && s.SpanContext().TraceID() == sc.TraceID() {
				kids = append(kids, s)
			}
		}
		slices.SortFunc(kids, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
		for _, s := range kids {
			b.WriteString(strings.Repeat("  ", depth))
			b.WriteString(s.Name())
			for _, k := range show {
				if v, ok := attrOf(s, k); ok {
					fmt.Fprintf(&b, " %s=%s", k, v.String())
				}
			}
			b.WriteString("\n")
			walk(s.SpanContext().SpanID(), depth+1)
		}
	}
	walk(sc.SpanID(), 0)
	return b.String()
}

// span returns the one ended span named name in the trace of sc.
func (h *harness) span(t testing.TB, sc trace.SpanContext, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range h.sr.Ended() {
		if s.Name() == name && s.SpanContext().TraceID() == sc.TraceID() {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s span in trace %s, found %d", name, sc.TraceID(), len(found))
	}
	return found[0]
}

func attrOf(s sdktrace.ReadOnlySpan, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// wantAttrs checks that s carries each attribute of want with its value.
func wantAttrs(t testing.TB, s sdktrace.ReadOnlySpan, want ...attribute.KeyValue) {
	t.Helper()
	for _, w := range want {
		got, ok := attrOf(s, w.Key)
		if !ok {
			t.Errorf("%s: no attribute %s (has %v)", s.Name(), w.Key, s.Attributes())
			continue
		}
		if got != w.Value {
			t.Errorf("%s: %s = %s, want %s", s.Name(), w.Key, got.String(), w.Value.String())
		}
	}
}

func wantNoAttr(t testing.TB, s sdktrace.ReadOnlySpan, keys ...attribute.Key) {
	t.Helper()
	for _, k := range keys {
		if v, ok := attrOf(s, k); ok {
			t.Errorf("%s: unexpected attribute %s=%s", s.Name(), k, v.String())
		}
	}
}

func wantTree(t testing.TB, got, want string) {
	t.Helper()
	want = strings.TrimLeft(want, "\n")
	if got != want {
		t.Errorf("span tree:\n%s\nwant:\n%s", got, want)
	}
}

// collect reads every metric of h's meter provider.
func (h *harness) collect(t testing.TB) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// User is the ~1 KiB value the tests and benchmarks cache.
type User struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Bio     string `json:"bio"`
	Country string `json:"country"`
}

func newUser(id int64) User {
	return User{
		ID:      id,
		Name:    fmt.Sprintf("user-%d", id),
		Email:   fmt.Sprintf("user%d@example.com", id),
		Bio:     strings.Repeat("strata caches this profile; ", 34),
		Country: "NL",
	}
}
