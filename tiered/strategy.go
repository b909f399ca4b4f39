package tiered

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Strategy is the whole freshness policy of an entry. The cache applies it for every caller —
// [Load], the decorate wrappers, the HTTP and gRPC adapters — and writes the entry's logical
// times into it, so every tier and every instance sees one entry in the same state:
//
//		write        refresh-ahead      fresh end           end of Stale       end of StaleIfError
//		  |---- fresh ----|-- fresh, refresh --|-- stale, refresh --|-- stale if error --|
//		                  ^ TTL − RefreshAhead  ^ TTL (jittered)     ^ TTL + Stale        ^ TTL + StaleIfError
//
//	  - fresh: served as is;
//	  - within RefreshAhead of the end of freshness: served as is, and one background load
//	    replaces it before it goes stale;
//	  - stale (the Stale window after TTL): served as is while one background load replaces it
//	    (serve-stale-while-refresh);
//	  - stale-if-error (the StaleIfError window after TTL, past Stale): the read loads the value
//	    (once per key, however many readers) and, when the source fails, is answered with the
//	    stale value instead of the error;
//	  - then the entry is gone: every tier drops it.
//
// After a failed background load or a failed stale-if-error load, the key backs off
// (Options.RefreshBackoff, doubling per consecutive failure): until then reads of the stale entry
// are answered with it without calling the source.
//
// The zero Strategy means the cache's default ([Options.DefaultStrategy], itself [Default] when
// unset). Any other Strategy must have a positive TTL. A Strategy also says whether a load of an
// entry missing from every tier takes a lease across instances ([Strategy.WithLease]; by default
// Options.Leases decides).
type Strategy struct {
	// TTL is how long an entry is fresh.
	TTL time.Duration
	// Jitter, between 0 and 1, shortens each write's TTL by a random fraction of at most Jitter,
	// drawn once per write (every tier sees the same lifetime), so that entries written together
	// do not all expire together.
	Jitter float64
	// Stale is how long after TTL an entry may still be served while one background load
	// replaces it. Zero disables it.
	Stale time.Duration
	// StaleIfError is how long after TTL an entry is kept to answer reads whose load fails.
	// Zero disables it.
	StaleIfError time.Duration
	// RefreshAhead is the window before the end of freshness in which a read is answered at once
	// and starts one background load of the key. Zero disables it; it must be shorter than TTL.
	RefreshAhead time.Duration
	// NegativeTTL is how long a "not found" result ([ErrNotFound], or an error that
	// [Options.IsNotFound] recognises) is cached. Zero disables negative caching.
	NegativeTTL time.Duration

	name  string
	lease int8 // 0: the cache's Options.Leases; 1: take a lease on a miss; -1: never
}

// The predefined strategies.
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

// Custom returns a strategy with the given TTL, which must be positive.
func Custom(ttl time.Duration) Strategy { return Strategy{TTL: ttl, name: "custom"} }

// WithStale returns a copy of s that serves an expired entry for d while one load replaces it.
func (s Strategy) WithStale(d time.Duration) Strategy { s.Stale = d; return s }

// WithStaleIfError returns a copy of s that keeps an expired entry for d to answer reads whose
// load fails.
func (s Strategy) WithStaleIfError(d time.Duration) Strategy { s.StaleIfError = d; return s }

// WithRefreshAhead returns a copy of s that starts a background load of an entry read within d
// of the end of its freshness.
func (s Strategy) WithRefreshAhead(d time.Duration) Strategy { s.RefreshAhead = d; return s }

// WithJitter returns a copy of s whose TTL is shortened by a random fraction of at most f.
func (s Strategy) WithJitter(f float64) Strategy { s.Jitter = f; return s }

// WithNegativeTTL returns a copy of s that caches "not found" results for d.
func (s Strategy) WithNegativeTTL(d time.Duration) Strategy { s.NegativeTTL = d; return s }

// WithLease returns a copy of s that, on a miss in every tier, takes (on) or does not take (off)
// a lease on the shared tier before it loads, whatever Options.Leases says: see Options.Leases.
// The zero Strategy with a lease choice, Strategy{}.WithLease(true), means the cache's default
// strategy with that choice.
func (s Strategy) WithLease(on bool) Strategy {
	s.lease = -1
	if on {
		s.lease = 1
	}
	return s
}

// Name is a short label for the strategy ("realtime", "short", "medium", "long", "default" or
// "custom"), suitable for metrics.
func (s Strategy) Name() string {
	if s.name == "" {
		return "custom"
	}
	return s.name
}

// IsZero reports whether s is the zero Strategy (which means "the cache's default").
func (s Strategy) IsZero() bool { return s == Strategy{} }

// Validate reports an error wrapping [ErrInvalidOptions] when a field is out of range. The zero
// Strategy is valid.
func (s Strategy) Validate() error {
	if s.policyZero() {
		return nil
	}
	switch {
	case s.TTL <= 0:
		return fmt.Errorf("%w: strategy TTL %v is not positive (the zero Strategy, not a zero TTL, selects the cache's default)", ErrInvalidOptions, s.TTL)
	case s.Stale < 0:
		return fmt.Errorf("%w: strategy Stale %v is negative", ErrInvalidOptions, s.Stale)
	case s.StaleIfError < 0:
		return fmt.Errorf("%w: strategy StaleIfError %v is negative", ErrInvalidOptions, s.StaleIfError)
	case s.RefreshAhead < 0:
		return fmt.Errorf("%w: strategy RefreshAhead %v is negative", ErrInvalidOptions, s.RefreshAhead)
	case s.RefreshAhead > 0 && s.RefreshAhead >= s.TTL:
		return fmt.Errorf("%w: strategy RefreshAhead %v is not shorter than its TTL %v", ErrInvalidOptions, s.RefreshAhead, s.TTL)
	case s.NegativeTTL < 0:
		return fmt.Errorf("%w: strategy NegativeTTL %v is negative", ErrInvalidOptions, s.NegativeTTL)
	case s.Jitter < 0 || s.Jitter > 1 || s.Jitter != s.Jitter:
		return fmt.Errorf("%w: strategy Jitter %v is outside [0, 1]", ErrInvalidOptions, s.Jitter)
	}
	return nil
}

// policyZero reports whether s is the zero Strategy but for its lease choice.
func (s Strategy) policyZero() bool {
	s.lease = 0
	return s.IsZero()
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

// times draws the logical times of one write under s at now (Unix nanoseconds), before tier
// scaling: jitter is applied once here, so every tier sees the same lifetime.
func (s Strategy) times(now int64, negative bool) times {
	if negative {
		end := now + min(int64(s.NegativeTTL), maxLifetime)
		return times{created: now, refreshAt: end, staleAt: end, swrEnd: end, expiresAt: end}
	}
	fresh := min(int64(s.TTL), maxLifetime)
	if s.Jitter > 0 && fresh > 0 {
		fresh -= int64(float64(fresh) * s.Jitter * rand.Float64())
	}
	t := times{created: now, staleAt: now + fresh}
	t.refreshAt = t.staleAt
	if s.RefreshAhead > 0 {
		// RefreshAhead < TTL; after jitter the window keeps its share of the lifetime.
		t.refreshAt = max(now, t.staleAt-int64(float64(s.RefreshAhead)*float64(fresh)/float64(s.TTL)))
	}
	t.swrEnd = t.staleAt + min(int64(s.Stale), maxLifetime)
	t.expiresAt = t.staleAt + min(max(int64(s.Stale), int64(s.StaleIfError)), maxLifetime)
	return t
}
