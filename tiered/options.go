package tiered

import (
	"fmt"
	"log/slog"
	"time"
)

// Options configures a [Cache]. The zero value is a working cache: a single in-process L1 of
// DefaultL1Entries entries, JSON codec, no namespace, the [Default] strategy.
type Options struct {
	// Tiers are read in order: Tiers[0] is L1. Empty means a single otter L1 with DefaultL1Entries
	// entries.
	Tiers []Tier
	// Codec encodes values for byte tiers. Nil means [JSON].
	Codec Codec
	// Namespace is prepended to every key written to a byte tier, for example "myapp:". It keeps
	// several applications or schema versions apart in one Redis.
	Namespace string
	// DefaultStrategy is used by calls that pass the zero Strategy. Zero means [Default].
	DefaultStrategy Strategy
	// Logger receives warnings (tier failures, breaker changes, corrupt entries). Nil is silent.
	Logger *slog.Logger
	// Observer is told about every operation, tier call and load; the otel package implements it.
	// Nil observes nothing at no cost.
	Observer Observer
	// LoadTimeout bounds a load (the tier walk plus the loader), which runs detached from the
	// context of the caller that started it so that its cancellation does not fail the others.
	// Zero means DefaultLoadTimeout.
	LoadTimeout time.Duration
	// IsNotFound maps loader errors that mean "no such value" (sql.ErrNoRows, say) to a cacheable
	// miss, as if the loader had returned [ErrNotFound]. Nil recognises ErrNotFound only.
	IsNotFound func(error) bool
	// FailClosed makes a failing tier an error for the caller instead of a miss.
	FailClosed bool
	// CompressAbove gzips payloads of at least this many bytes before they go to byte tiers.
	// Zero disables compression.
	CompressAbove int
	// Breaker configures the per-tier circuit breaker of byte tiers.
	Breaker BreakerOptions

	// Bus, when non-nil, starts the invalidation bus: Redis Pub/Sub that keeps the in-process
	// tiers of every instance sharing Redis coherent (see [BusOptions]). Nil means no bus:
	// invalidations reach this cache's tiers only.
	Bus *BusOptions
	// MaxTagEntries bounds the in-process tag index, in (tag, key) pairs. Zero means
	// DefaultMaxTagEntries. See [Cache.InvalidateTags].
	MaxTagEntries int
}

// Defaults applied to zero fields.
const (
	DefaultL1Entries      = 100_000
	DefaultLoadTimeout    = 10 * time.Second
	DefaultTierTimeout    = 250 * time.Millisecond
	DefaultBreakerFailure = 5
	DefaultBreakerCool    = time.Second
	maxTTLScale           = 1000
)

// Tier places a backend at a level of the cache.
type Tier struct {
	// Backend stores the entries: a [ValueBackend] or a [ByteBackend].
	Backend Backend
	// Promote says whether hits found in lower tiers are copied into this tier. The zero value,
	// PromoteOn, copies them.
	Promote Promotion
	// TTLScale makes this tier keep entries TTLScale × the strategy's TTL (and stale window).
	// Zero means 1; it must lie in (0, 1000].
	TTLScale float64
	// Timeout bounds every call to a byte tier; a caller is never held longer. Zero means
	// DefaultTierTimeout. It does not apply to value tiers, which never block.
	Timeout time.Duration
}

// Promotion says whether a tier receives copies of hits found below it.
type Promotion uint8

const (
	// PromoteOn copies hits from lower tiers into this tier (the default).
	PromoteOn Promotion = iota
	// PromoteOff leaves this tier to explicit writes only.
	PromoteOff
)

// BreakerOptions configures the circuit breaker that stops calling a failing byte tier.
type BreakerOptions struct {
	// Failures is how many consecutive failures open the breaker. Zero means
	// DefaultBreakerFailure.
	Failures int
	// Cooldown is how long an open breaker skips the tier before it lets one probe call through.
	// Zero means DefaultBreakerCool.
	Cooldown time.Duration
}

func (o *Options) validate() error {
	for i, t := range o.Tiers {
		if t.Backend == nil {
			return fmt.Errorf("%w: tier %d has no backend", ErrInvalidOptions, i)
		}
		_, isValue := t.Backend.(ValueBackend)
		_, isByte := t.Backend.(ByteBackend)
		if !isValue && !isByte {
			return fmt.Errorf("%w: tier %d (%s) is neither a ValueBackend nor a ByteBackend", ErrInvalidOptions, i, t.Backend.Name())
		}
		if t.TTLScale < 0 || t.TTLScale > maxTTLScale || t.TTLScale != t.TTLScale {
			return fmt.Errorf("%w: tier %d (%s) TTLScale %v is outside (0, %d]", ErrInvalidOptions, i, t.Backend.Name(), t.TTLScale, maxTTLScale)
		}
		if t.Timeout < 0 {
			return fmt.Errorf("%w: tier %d (%s) Timeout %v is negative", ErrInvalidOptions, i, t.Backend.Name(), t.Timeout)
		}
		if t.Promote > PromoteOff {
			return fmt.Errorf("%w: tier %d (%s) has an unknown Promote value %d", ErrInvalidOptions, i, t.Backend.Name(), t.Promote)
		}
	}
	if err := o.DefaultStrategy.Validate(); err != nil {
		return fmt.Errorf("%w: DefaultStrategy: %w", ErrInvalidOptions, err)
	}
	switch {
	case o.LoadTimeout < 0:
		return fmt.Errorf("%w: LoadTimeout %v is negative", ErrInvalidOptions, o.LoadTimeout)
	case o.CompressAbove < 0:
		return fmt.Errorf("%w: CompressAbove %d is negative", ErrInvalidOptions, o.CompressAbove)
	case o.Breaker.Failures < 0:
		return fmt.Errorf("%w: Breaker.Failures %d is negative", ErrInvalidOptions, o.Breaker.Failures)
	case o.Breaker.Cooldown < 0:
		return fmt.Errorf("%w: Breaker.Cooldown %v is negative", ErrInvalidOptions, o.Breaker.Cooldown)
	case o.MaxTagEntries < 0:
		return fmt.Errorf("%w: MaxTagEntries %d is negative", ErrInvalidOptions, o.MaxTagEntries)
	}
	return nil
}
