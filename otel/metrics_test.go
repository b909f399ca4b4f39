package stratotel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/stratacache/strata/internal/loadwait"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// point returns the value of the int64 sum data point of m whose attributes are exactly attrs.
func sumPoint(t testing.TB, ms map[string]metricdata.Metrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s (have %v)", name, keys(ms))
	}
	want := attribute.NewSet(attrs...)
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
	}
	for _, dp := range sum.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	var have []string
	for _, dp := range sum.DataPoints {
		have = append(have, dp.Attributes.Encoded(attribute.DefaultEncoder()))
	}
	t.Fatalf("%s has no point {%s}; points: %v", name, want.Encoded(attribute.DefaultEncoder()), have)
	return 0
}

// histCount returns the count of the histogram data point of m whose attributes are exactly attrs.
func histCount(t testing.TB, ms map[string]metricdata.Metrics, name string, attrs ...attribute.KeyValue) uint64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s (have %v)", name, keys(ms))
	}
	if m.Unit != "s" {
		t.Errorf("%s unit %q, want s", name, m.Unit)
	}
	want := attribute.NewSet(attrs...)
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, want a float64 histogram", name, m.Data)
	}
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Count
		}
	}
	var have []string
	for _, dp := range h.DataPoints {
		have = append(have, dp.Attributes.Encoded(attribute.DefaultEncoder()))
	}
	t.Fatalf("%s has no point {%s}; points: %v", name, want.Encoded(attribute.DefaultEncoder()), have)
	return 0
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	ns := fmt.Sprintf("otel-test:%s:%d:", t.Name(), time.Now().UnixNano())
	c := h.newCache(t, cacheConfig{namespace: ns})
	other := h.newCache(t, cacheConfig{namespace: ns})
	reg, err := h.obs.ObserveCache(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	ctx := context.Background()
	calls := 0

	// A miss with a load, then two L1 hits.
	for range 3 {
		if _, err := tiered.Load(ctx, c, "user:1", tiered.ShortTerm, loadUser(&calls, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// An L2 hit: another instance wrote it.
	if err := other.Set(ctx, "user:2", newUser(2), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	if _, err := tiered.Load(ctx, c, "user:2", tiered.ShortTerm, loadUser(&calls, 2)); err != nil {
		t.Fatal(err)
	}
	// A failing load and a cached "not found", hit once.
	boom := errors.New("boom")
	if _, err := tiered.Load(ctx, c, "user:3", tiered.ShortTerm, func(context.Context) (User, error) { return User{}, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	neg := tiered.ShortTerm.WithNegativeTTL(time.Minute)
	for range 2 {
		if _, err := tiered.Load(ctx, c, "user:4", neg, func(context.Context) (User, error) { return User{}, tiered.ErrNotFound }); !errors.Is(err, tiered.ErrNotFound) {
			t.Fatal(err)
		}
	}
	// A coalesced waiter.
	entered, release := make(chan struct{}), make(chan struct{})
	slow := func(context.Context) (User, error) { close(entered); <-release; return newUser(5), nil }
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = tiered.Load(ctx, c, "user:5", tiered.ShortTerm, slow) })
	<-entered
	if m := h.collect(t); sumPoint(t, m, "strata.cache.loads.inflight") != 1 {
		t.Errorf("loads in flight = %d during a load, want 1", sumPoint(t, m, "strata.cache.loads.inflight"))
	}
	blocked := loadwait.Blocked()
	wg.Go(func() { _, _ = tiered.Load(ctx, c, "user:5", tiered.ShortTerm, slow) })
	loadwait.Wait(t, blocked+1) // the waiter has joined the running load
	close(release)
	wg.Wait()

	m := h.collect(t)
	otter, redis := []attribute.KeyValue{AttrTierName.String("otter"), AttrTierLevel.Int(1)}, []attribute.KeyValue{AttrTierName.String("redis"), AttrTierLevel.Int(2)}
	s := c.Stats()
	for _, tc := range []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{"strata.cache.requests", append([]attribute.KeyValue{AttrResult.String("hit")}, otter...), 3}, // 2 hits + 1 negative hit
		{"strata.cache.requests", append([]attribute.KeyValue{AttrResult.String("hit")}, redis...), 1},
		{"strata.cache.requests", []attribute.KeyValue{AttrResult.String("miss")}, 4},
		{"strata.cache.requests", []attribute.KeyValue{AttrResult.String("coalesced")}, 1},
		{"strata.cache.hits.negative", nil, 1},
		{"strata.cache.hits.stale", nil, 0},
		{"strata.cache.promotions", otter, 1},
		{"strata.cache.promotions", redis, 0},
		{"strata.cache.loads", nil, 3},
		{"strata.cache.loads", []attribute.KeyValue{AttrErrorType.String("*errors.errorString")}, 1},
		{"strata.cache.loads.inflight", nil, 0},
		{"strata.cache.tier.errors", append([]attribute.KeyValue{AttrErrorType.String("timeout")}, redis...), 0},
		{"strata.cache.breaker.state", append([]attribute.KeyValue{AttrBreakerState.String("closed")}, redis...), 1},
		{"strata.cache.breaker.state", append([]attribute.KeyValue{AttrBreakerState.String("open")}, redis...), 0},
	} {
		if got := sumPoint(t, m, tc.name, tc.attrs...); got != tc.want {
			set := attribute.NewSet(tc.attrs...)
			t.Errorf("%s{%s} = %d, want %d", tc.name, set.Encoded(attribute.DefaultEncoder()), got, tc.want)
		}
	}
	// The requests metric agrees with Stats.
	if got := sumPoint(t, m, "strata.cache.requests", append([]attribute.KeyValue{AttrResult.String("hit")}, otter...)...) +
		sumPoint(t, m, "strata.cache.requests", append([]attribute.KeyValue{AttrResult.String("hit")}, redis...)...) +
		sumPoint(t, m, "strata.cache.requests", AttrResult.String("miss")) +
		sumPoint(t, m, "strata.cache.requests", AttrResult.String("coalesced")); got != int64(s.Requests) {
		t.Errorf("requests metric sums to %d, Stats.Requests = %d", got, s.Requests)
	}
	if ms := m["strata.cache.requests"]; !ms.Data.(metricdata.Sum[int64]).IsMonotonic || ms.Unit != "{request}" {
		t.Errorf("strata.cache.requests: monotonic %v unit %q", ms.Data.(metricdata.Sum[int64]).IsMonotonic, ms.Unit)
	}

	load := AttrOperation.String("load")
	for _, tc := range []struct {
		attrs []attribute.KeyValue
		want  uint64
	}{
		{[]attribute.KeyValue{load, AttrResult.String("miss")}, 4}, // user:1, user:4, user:5's leader and its waiter
		{[]attribute.KeyValue{load, AttrResult.String("hit")}, 1},  // the L2 hit: L1 hits are not timed
		{[]attribute.KeyValue{load, AttrResult.String("miss"), AttrErrorType.String("*errors.errorString")}, 1},
		{[]attribute.KeyValue{AttrOperation.String("set")}, 1},
	} {
		if got := histCount(t, m, "strata.cache.operation.duration", tc.attrs...); got != tc.want {
			set := attribute.NewSet(tc.attrs...)
			t.Errorf("operation.duration{%s} count = %d, want %d", set.Encoded(attribute.DefaultEncoder()), got, tc.want)
		}
	}
	if got := histCount(t, m, "strata.cache.tier.duration", append(redis, AttrTierCall.String("get"))...); got < 5 {
		t.Errorf("tier.duration{redis,get} count = %d, want at least 5", got)
	}
	if got := histCount(t, m, "strata.cache.load.duration"); got != 3 {
		t.Errorf("load.duration count = %d, want 3", got)
	}
}

func TestMetricsTierFailures(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{rdb: srv.Client(t), timeout: 30 * time.Millisecond, breaker: tiered.BreakerOptions{Failures: 2, Cooldown: time.Minute}})
	reg, err := h.obs.ObserveCache(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	ctx := context.Background()
	if err := c.Set(ctx, "warm", 1, tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	for i := range 3 {
		if _, err := tiered.Load(ctx, c, fmt.Sprintf("user:%d", i), tiered.ShortTerm, loadUser(new(int), int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	m := h.collect(t)
	redis := []attribute.KeyValue{AttrTierName.String("redis"), AttrTierLevel.Int(2)}
	with := func(kv ...attribute.KeyValue) []attribute.KeyValue {
		return append(append([]attribute.KeyValue{}, redis...), kv...)
	}
	for _, tc := range []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{"strata.cache.tier.errors", with(AttrErrorType.String("timeout")), 2},
		{"strata.cache.tier.errors", with(AttrErrorType.String("_OTHER")), 0},
		{"strata.cache.tier.skipped", redis, 4}, // get and set of the second and third loads
		{"strata.cache.tier.writes.dropped", redis, 3},
		{"strata.cache.breaker.state", with(AttrBreakerState.String("open")), 1},
		{"strata.cache.breaker.state", with(AttrBreakerState.String("closed")), 0},
		{"strata.cache.breaker.transitions", with(AttrBreakerState.String("open")), 1},
	} {
		if got := sumPoint(t, m, tc.name, tc.attrs...); got != tc.want {
			set := attribute.NewSet(tc.attrs...)
			t.Errorf("%s{%s} = %d, want %d", tc.name, set.Encoded(attribute.DefaultEncoder()), got, tc.want)
		}
	}
	if got := histCount(t, m, "strata.cache.tier.duration", with(AttrTierCall.String("get"), AttrErrorType.String("timeout"))...); got != 1 {
		t.Errorf("tier.duration{get,timeout} count = %d, want 1", got)
	}
}

func TestMetricsEvictions(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{l1Entries: 10})
	ctx := context.Background()
	for i := range 200 {
		if err := c.Set(ctx, fmt.Sprintf("user:%d", i), i, tiered.ShortTerm); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		m := h.collect(t)
		_, ok := m["strata.cache.evictions"]
		return ok && sumPoint(t, m, "strata.cache.evictions", AttrTierName.String("otter")) >= 150
	})
}

// TestOpTablesCoverEveryOp: the per-operation tables are sized for every tiered.Op.
func TestOpTablesCoverEveryOp(t *testing.T) {
	last := tiered.OpSetMany
	if numOps != int(last)+1 || len(opSpanNames) != numOps {
		t.Fatalf("numOps %d, span names %d, want %d", numOps, len(opSpanNames), int(last)+1)
	}
	if (last + 1).String() != "unknown" {
		t.Fatalf("tiered.Op %d is named %q: the tables here miss it", last+1, (last + 1).String())
	}
}
