package stratotel

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/tiered"
)

// An L1 hit inside an unsampled trace allocates nothing, metrics included.
func TestL1HitUnsampledAllocatesNothing(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	reg, err := h.obs.ObserveCache(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	ctx := context.Background()
	if err := c.Set(ctx, "user:1", newUser(1), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	unsampled := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}}))
	loader := func(context.Context) (User, error) { t.Fatal("loader called"); return User{}, nil }
	for name, ctx := range map[string]context.Context{"no parent": ctx, "unsampled parent": unsampled} {
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := tiered.Load(ctx, c, "user:1", tiered.ShortTerm, loader); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per L1 hit, want 0", name, allocs)
		}
	}
	if n := len(h.sr.Started()); n != 0 {
		t.Errorf("%d spans started outside a sampled trace", n)
	}
}
