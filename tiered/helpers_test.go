package tiered_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// Payload is a ~1 KiB value, the size the benchmarks use.
type Payload struct {
	ID    int64             `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	Body  string            `json:"body"`
}

func newPayload(id int64) Payload {
	return Payload{
		ID:    id,
		Name:  fmt.Sprintf("payload-%d", id),
		Tags:  []string{"a", "b", "c"},
		Attrs: map[string]string{"k1": "v1", "k2": "v2"},
		Body:  strings.Repeat("x", 900),
	}
}

var nsCounter atomic.Int64

// namespace returns a namespace no other test uses, so tests can share one Redis.
func namespace(t testing.TB) string {
	return fmt.Sprintf("t%d:%s:", nsCounter.Add(1), strings.ReplaceAll(t.Name(), "/", "_"))
}

func newL1(t testing.TB) *ottertier.Backend {
	t.Helper()
	b, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func newL2(t testing.TB, c redis.UniversalClient, name string) *redistier.Backend {
	t.Helper()
	b, err := redistier.New(c, redistier.Options{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newCache(t testing.TB, opts tiered.Options) *tiered.Cache {
	t.Helper()
	c, err := tiered.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// countingLoader returns a loader that counts its calls and returns v after delay.
func countingLoader[T any](calls *atomic.Int64, v T, delay time.Duration) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		calls.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		return v, nil
	}
}

// checkInvariant asserts that every request was counted exactly once.
func checkInvariant(t *testing.T, s tiered.Stats) {
	t.Helper()
	var hits uint64
	for _, ts := range s.Tiers {
		hits += ts.Hits
	}
	if hits != s.Hits || s.Requests != s.Hits+s.Misses+s.Coalesced {
		t.Fatalf("stats do not add up: %+v", s)
	}
}
