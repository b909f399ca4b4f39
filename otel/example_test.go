package stratotel_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	stratotel "github.com/stratacache/strata/otel"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// A cache observed by stratotel: a miss that runs the loader, then an L1 hit, inside a request
// span. Here the spans go to an in-memory recorder; a service would export them with OTLP.
func Example() {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	obs, err := stratotel.New(stratotel.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	cache, err := tiered.New(tiered.Options{Observer: obs})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cache.Close() }()

	ctx, request := tp.Tracer("app").Start(context.Background(), "GET /users/{id}")
	for range 2 {
		_, err := tiered.Load(ctx, cache, "user:42", tiered.ShortTerm, func(ctx context.Context) (string, error) {
			return "Ada", nil
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	request.End()

	for _, s := range recorder.Ended() {
		set := attribute.NewSet(s.Attributes()...)
		fmt.Println(strings.TrimSpace(s.Name() + " " + set.Encoded(attribute.DefaultEncoder())))
	}
	// Output:
	// strata.loader
	// strata.load strata.l1.result=miss,strata.loaded=true,strata.result=miss
	// strata.load strata.l1.result=hit,strata.result=hit,strata.tier.level=1,strata.tier.name=otter
	// GET /users/{id}
}

// ObserveCache exports the cache's own counters; EvictionRecorder counts the evictions of an
// otter L1.
func ExampleObserver_ObserveCache() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	obs, err := stratotel.New(stratotel.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 10_000, StatsRecorder: obs.EvictionRecorder("otter")})
	if err != nil {
		log.Fatal(err)
	}
	defer l1.Close()
	cache, err := tiered.New(tiered.Options{Tiers: []tiered.Tier{{Backend: l1}}, Observer: obs})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cache.Close() }()
	reg, err := obs.ObserveCache(cache)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()

	ctx := context.Background()
	for range 3 {
		_, _ = tiered.Load(ctx, cache, "greeting", tiered.ShortTerm, func(context.Context) (string, error) { return "hello", nil })
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "strata.cache.requests" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				fmt.Println(m.Name, dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value)
			}
		}
	}
	// Unordered output:
	// strata.cache.requests strata.result=miss 1
	// strata.cache.requests strata.result=coalesced 0
	// strata.cache.requests strata.result=hit,strata.tier.level=1,strata.tier.name=otter 2
}

// WithKeyHash adds a keyed hash of the key to each operation's span, so that every operation on
// one key can be found in the tracing backend without exporting the key itself.
func ExampleWithKeyHash() {
	secret := []byte(os.Getenv("STRATA_KEY_HASH_SECRET")) // a secret of the application's
	if len(secret) == 0 {
		secret = []byte("example secret")
	}
	obs, err := stratotel.New(stratotel.WithKeyHash(secret), stratotel.WithRootSpans())
	if err != nil {
		log.Fatal(err)
	}
	cache, err := tiered.New(tiered.Options{Observer: obs})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cache.Close() }()
	fmt.Println(len(cache.Tiers()), "tier, observed")
	// Output: 1 tier, observed
}
