package tiered

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Strategy is the TTL policy of a write: how long an entry stays fresh, how long it may then be
// served stale while it is refreshed, how much the TTL is randomised, and how long a "not found"
// result is remembered.
//
// The zero Strategy means the cache's default strategy ([Options.DefaultStrategy], itself
// [Default] when unset).
type Strategy struct {
	// TTL is how long an entry is fresh. It must not be negative.
	TTL time.Duration
	// Stale is how long after TTL an entry may still be served while one background load refreshes
	// it (serve-stale-while-refresh). Zero disables it.
	Stale time.Duration
	// Jitter, between 0 and 1, shortens each write's TTL by a random fraction of at most Jitter so
	// that entries written together do not all expire together. Zero disables it.
	Jitter float64
	// NegativeTTL is how long a "not found" result ([ErrNotFound], or an error that
	// [Options.IsNotFound] maps to it) is cached. Zero disables negative caching.
	NegativeTTL time.Duration

	name string
}

// The seed strategies.
var (
	// RealTime suits values that change constantly: 10 seconds.
	RealTime = Strategy{TTL: 10 * time.Second, name: "realtime"}
	// ShortTerm suits session-like data: 5 minutes.
	ShortTerm = Strategy{TTL: 5 * time.Minute, name: "short"}
	// MediumTerm suits catalogue-like data: 1 hour.
	MediumTerm = Strategy{TTL: time.Hour, name: "medium"}
	// LongTerm suits reference data: 3 hours.
	LongTerm = Strategy{TTL: 3 * time.Hour, name: "long"}
	// Default is used when a call passes the zero Strategy and Options.DefaultStrategy is unset:
	// 5 minutes.
	Default = Strategy{TTL: 5 * time.Minute, name: "default"}
)

// Custom returns a strategy with the given TTL.
func Custom(ttl time.Duration) Strategy { return Strategy{TTL: ttl, name: "custom"} }

// WithStale returns a copy of s that may serve an expired entry for d while refreshing it.
func (s Strategy) WithStale(d time.Duration) Strategy { s.Stale = d; return s }

// WithJitter returns a copy of s whose TTL is shortened by a random fraction of at most f.
func (s Strategy) WithJitter(f float64) Strategy { s.Jitter = f; return s }

// WithNegativeTTL returns a copy of s that caches "not found" results for d.
func (s Strategy) WithNegativeTTL(d time.Duration) Strategy { s.NegativeTTL = d; return s }

// Name is a short label for the strategy ("realtime", "short", "medium", "long", "default" or
// "custom"), suitable for metrics.
func (s Strategy) Name() string {
	if s.name == "" {
		return "custom"
	}
	return s.name
}

// IsZero reports whether s is the zero Strategy (which means "the cache's default").
func (s Strategy) IsZero() bool {
	return s.TTL == 0 && s.Stale == 0 && s.Jitter == 0 && s.NegativeTTL == 0
}

// Validate reports an error wrapping [ErrInvalidStrategy] when a field is out of range.
func (s Strategy) Validate() error {
	switch {
	case s.TTL < 0:
		return fmt.Errorf("%w: TTL %v is negative", ErrInvalidStrategy, s.TTL)
	case s.Stale < 0:
		return fmt.Errorf("%w: Stale %v is negative", ErrInvalidStrategy, s.Stale)
	case s.NegativeTTL < 0:
		return fmt.Errorf("%w: NegativeTTL %v is negative", ErrInvalidStrategy, s.NegativeTTL)
	case s.Jitter < 0 || s.Jitter > 1 || s.Jitter != s.Jitter:
		return fmt.Errorf("%w: Jitter %v is outside [0, 1]", ErrInvalidStrategy, s.Jitter)
	}
	return nil
}

// maxLifetime caps every scaled duration so that now + fresh + stale cannot overflow int64
// (about 73 years each).
const maxLifetime = int64(1) << 61

// scaled returns d × f, saturated to ±maxLifetime.
func scaled(d int64, f float64) int64 {
	v := float64(d) * f
	switch {
	case v >= float64(maxLifetime):
		return maxLifetime
	case v <= -float64(maxLifetime):
		return -maxLifetime
	}
	return int64(v)
}

// lifetime is the fresh and stale window of one write, in nanoseconds, before tier scaling.
type lifetime struct {
	fresh, stale int64
}

// lifetimeFor computes the fresh and stale durations of a write under s, applying jitter once so
// every tier sees the same (scaled) lifetime.
func (s Strategy) lifetime(negative bool) lifetime {
	if negative {
		return lifetime{fresh: int64(s.NegativeTTL)}
	}
	fresh := int64(s.TTL)
	if s.Jitter > 0 && fresh > 0 {
		fresh -= int64(float64(fresh) * s.Jitter * rand.Float64())
	}
	return lifetime{fresh: fresh, stale: int64(s.Stale)}
}
