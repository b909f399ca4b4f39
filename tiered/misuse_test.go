package tiered_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
)

// TestMisuseGetsAClearError: calls that used to be accepted silently, or to panic, now return an
// error wrapping ErrInvalidOptions that says what is wrong.
func TestMisuseGetsAClearError(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, tiered.Options{})
	var nilCache *tiered.Cache
	loader := func(context.Context) (int, error) { return 1, nil }
	for name, err := range map[string]error{
		"empty tag on Set": c.Set(ctx, "k", 1, tiered.Default, tiered.Tags("")),
		"empty tag on Load": func() error {
			_, err := tiered.Load(ctx, c, "k2", tiered.Default, loader, tiered.Tags("a", ""))
			return err
		}(),
		"empty tag invalidated":   c.InvalidateTags(ctx, "team", ""),
		"unterminated class":      c.InvalidatePattern(ctx, "user:[1"),
		"empty pattern":           c.InvalidatePattern(ctx, ""),
		"windows without a TTL":   c.Set(ctx, "k", 1, tiered.Strategy{Stale: time.Minute}),
		"Custom(0)":               c.Set(ctx, "k", 1, tiered.Custom(0)),
		"Load on a nil cache":     func() error { _, err := tiered.Load(ctx, nilCache, "k", tiered.Default, loader); return err }(),
		"Get on a nil cache":      func() error { _, _, err := tiered.Get[int](ctx, nilCache, "k"); return err }(),
		"Set on a nil cache":      nilCache.Set(ctx, "k", 1, tiered.Default),
		"Invalidate on nil":       nilCache.Invalidate(ctx, "k"),
		"InvalidateAll on nil":    nilCache.InvalidateAll(ctx),
		"LoadMany without loader": func() error { _, err := tiered.LoadMany[int](ctx, c, []string{"a"}, tiered.Default, nil); return err }(),
	} {
		if !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Errorf("%s: %v, want an error wrapping ErrInvalidOptions", name, err)
		}
	}
	if err := nilCache.Close(); err != nil {
		t.Errorf("Close of a nil cache: %v", err)
	}
	// Nothing was stored by the refused calls.
	if _, ok, _ := tiered.Get[int](ctx, c, "k"); ok {
		t.Error("a refused Set stored its value")
	}
}

// TestStatsJSON: Stats marshals with readable breaker states.
func TestStatsJSON(t *testing.T) {
	c := newCache(t, tiered.Options{})
	b, err := json.Marshal(c.Stats())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Breaker":"closed"`) {
		t.Fatalf("Stats JSON %s lacks the breaker's name", b)
	}
}
