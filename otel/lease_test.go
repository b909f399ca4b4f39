package stratotel

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/internal/loadwait"
	"github.com/stratacache/strata/tiered"
)

// TestLeaseEvents: a load that takes a lease, one answered by the holder's value and one whose
// wait timed out show up as span events of their operations and in strata.cache.leases.
func TestLeaseEvents(t *testing.T) {
	h := newHarness(t)
	ns := fmt.Sprintf("otel-test:%s:%d:", t.Name(), time.Now().UnixNano())
	a := h.newCache(t, cacheConfig{namespace: ns, leases: true})
	b := h.newCache(t, cacheConfig{namespace: ns, leases: true})
	impatient := h.newCache(t, cacheConfig{namespace: ns, leases: true, leaseWait: 20 * time.Millisecond})

	// hold makes a hold key's lease until release is closed, and reports the span of its load.
	hold := func(key string) (release func() trace.SpanContext, loading chan struct{}) {
		loading = make(chan struct{})
		rel := make(chan struct{})
		done := make(chan trace.SpanContext, 1)
		go func() {
			sc := h.request(context.Background(), func(ctx context.Context) {
				_, err := tiered.Load(ctx, a, key, tiered.Default, func(context.Context) (User, error) {
					close(loading)
					<-rel
					return newUser(1), nil
				})
				if err != nil {
					t.Error(err)
				}
			})
			done <- sc
		}()
		return func() trace.SpanContext { close(rel); return <-done }, loading
	}

	release, loading := hold("k")
	<-loading
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bDone := make(chan trace.SpanContext, 1)
	go func() {
		sc := h.request(ctx, func(ctx context.Context) {
			if _, err := tiered.Load(ctx, b, "k", tiered.Default, func(context.Context) (User, error) { return User{}, fmt.Errorf("b must not load") }); err != nil {
				t.Error(err)
			}
		})
		bDone <- sc
	}()
	loadwait.Wait(t, 1) // b's caller waits for its load, which waits for a's lease
	taken := release()
	waited := <-bDone

	release, loading = hold("k2")
	<-loading
	timedOut := h.request(context.Background(), func(ctx context.Context) {
		if _, err := tiered.Load(ctx, impatient, "k2", tiered.Default, func(context.Context) (User, error) { return newUser(2), nil }); err != nil {
			t.Error(err)
		}
	})
	release()

	for _, c := range []struct {
		sc    trace.SpanContext
		event string
	}{{taken, "strata.lease.taken"}, {waited, "strata.lease.waited"}, {timedOut, "strata.lease.timed_out"}} {
		s := h.span(t, c.sc, "strata.load")
		var names []string
		for _, e := range s.Events() {
			names = append(names, e.Name)
		}
		if !slices.Contains(names, c.event) {
			t.Errorf("load span events %v, want %s", names, c.event)
		}
	}
	m, ok := h.collect(t)["strata.cache.leases"]
	if !ok {
		t.Fatal("no strata.cache.leases metric")
	}
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ev, _ := dp.Attributes.Value(AttrLeaseEvent)
		got[ev.AsString()] += dp.Value
	}
	want := map[string]int64{"taken": 2, "waited": 1, "timed_out": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("strata.cache.leases %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
