package tiered_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// wrappedClient is a go-redis client behind a type of the application's own (an instrumented
// wrapper, say): the redis tier cannot enumerate its nodes, so it cannot delete by pattern.
type wrappedClient struct{ *redis.Client }

// TestUnsupportedIsNotATierFailure: a backend that cannot perform an operation (an error
// wrapping ErrUnsupported) has not failed. However often it is asked, the tier's error count
// stays at zero and its breaker closed, so reads and writes keep using it.
func TestUnsupportedIsNotATierFailure(t *testing.T) {
	ctx := context.Background()
	l2, err := redistier.New(wrappedClient{redistest.Shared(t).Client(t)}, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tiered.New(tiered.Options{
		Namespace: namespace(t),
		Tiers:     []tiered.Tier{{Backend: newL1(t)}, {Backend: l2, Timeout: time.Second}},
		Breaker:   tiered.BreakerOptions{Failures: 2, Cooldown: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", 1, tiered.Custom(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		err := c.InvalidatePattern(ctx, "k*")
		if !errors.Is(err, tiered.ErrUnsupported) || !errors.Is(err, redistier.ErrUnsupportedClient) {
			t.Fatalf("InvalidatePattern through a client that cannot reach every node = %v; want ErrUnsupported", err)
		}
		if errors.Is(err, tiered.ErrTierUnavailable) || !strings.Contains(err.Error(), "redis (L2)") {
			t.Fatalf("InvalidatePattern = %v; want the tier named, not reported unavailable", err)
		}
	}
	if s := c.Stats().Tiers[1]; s.Errors != 0 || s.Breaker != tiered.BreakerClosed || s.Skipped != 0 {
		t.Fatalf("redis tier after unsupported pattern deletes: %+v; want no errors and a closed breaker", s)
	}
	// The pattern removed k from L1 only; Redis, still called, answers the read.
	if v, found, err := tiered.Get[int](ctx, c, "k"); !found || err != nil || v != 1 {
		t.Fatalf("Get = %v %v %v", v, found, err)
	}
	if s := c.Stats().Tiers[1]; s.Hits != 1 {
		t.Fatalf("redis tier hits = %d; want the read answered by it", s.Hits)
	}
}
