package tiered

import (
	"fmt"
	"log/slog"
	"time"
)

// Options configures a [Cache]. The zero value is a working cache: a single in-process otter L1
// of 100,000 entries, the default codec, no namespace, the [Default] strategy.
type Options struct {
	// Tiers are read in order: Tiers[0] is L1. Empty means a single otter L1 of 100,000 entries,
	// which the cache builds and closes itself.
	Tiers []Tier
	// Codec encodes values for byte tiers. Nil means CBOR (RFC 8949); [JSON] gives entries
	// readable with redis-cli.
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
	// LoadTimeout bounds a load (the loader, and the writes that follow it), which runs detached
	// from the context of the caller that started it so that its cancellation does not fail the
	// others. It also bounds background refreshes. Zero means 10 s.
	LoadTimeout time.Duration
	// RefreshBackoff is how long a key waits before its next background refresh or stale-if-error
	// load after one failed; it doubles with each consecutive failure, up to 64 times. Zero means
	// 1 s.
	RefreshBackoff time.Duration
	// IsNotFound maps loader errors that mean "no such value" (sql.ErrNoRows, say) to a cacheable
	// miss, as if the loader had returned [ErrNotFound]. Nil recognises ErrNotFound only.
	IsNotFound func(error) bool
	// FailClosed makes a failing tier an error for the caller instead of a miss.
	FailClosed bool
	// CompressAbove compresses payloads of at least this many bytes (with S2, a fast
	// Snappy-compatible format) before they go to byte tiers. Zero disables compression.
	CompressAbove int
	// Breaker configures the per-tier circuit breaker of byte tiers.
	Breaker BreakerOptions

	// Bus, when set, keeps the in-process tiers of every instance sharing it coherent: each
	// change made here (Set, Update, Invalidate and their pattern, tag and clear forms) reaches
	// the others. Nil means no bus: changes reach this cache's tiers only. The cache subscribes
	// at New and unsubscribes at Close; the Bus stays the caller's.
	Bus Bus
	// BusOptions tunes the bus; see [BusOptions] for the staleness bound it gives.
	BusOptions BusOptions
	// Leases protects the source from a fleet-wide stampede: on a miss in every tier, a load
	// first takes a short lease on the key in the first byte tier that implements [Leaser]
	// (Redis), so that one instance of the fleet calls the loader while the others wait for the
	// value it writes. A Strategy's WithLease overrides it per call. Without a Leaser tier it
	// changes nothing. See [Leaser] for what a lease guarantees.
	//
	// Leases cover the loads of a miss: [Load] (and decorate.Func, grpccache, which load through
	// it), [LoadMany] (a lease per key; decorate.Batch) and loads run outside them through
	// [Cache.Claim] (httpcache and echocache misses, whose response streams to its client while
	// it is stored, and grpccache client calls; those stores are not fenced). Background refreshes and
	// stale-if-error reloads, which have a value to serve meanwhile, take none. The read of the
	// lease tier takes the lease in the same round trip; the holder's store is one fenced write.
	// Waiters poll the tier (1 ms, doubling up to 8 ms). The lease tier's calls are reported to the
	// Observer as tier calls (get, set, delete) and the outcomes through Observer.LeaseEvent.
	Leases bool
	// LeaseTTL is how long a lease lasts unless its holder stores the value or gives up first:
	// a holder that dies mid-load costs the others this long, never more. It should exceed the
	// loader's usual duration (a slower load is answered, but may be repeated by another
	// instance). Zero means 2 s.
	LeaseTTL time.Duration
	// LeaseWait bounds how long a load waits for another instance's lease, counted from its first
	// attempt; then it calls the loader itself. Zero means 2 × LeaseTTL, at most LoadTimeout / 2.
	LeaseWait time.Duration

	// MaxTagEntries bounds the in-process tag index, in (tag, key) pairs. Zero means 1,000,000.
	// See [Cache.InvalidateTags].
	MaxTagEntries int
}

// Defaults applied to zero fields.
const (
	defaultL1Entries       = 100_000
	defaultLoadTimeout     = 10 * time.Second
	defaultTierTimeout     = 250 * time.Millisecond
	defaultBreakerFailures = 5
	defaultBreakerCooldown = time.Second
	defaultRefreshBackoff  = time.Second
	defaultLeaseTTL        = 2 * time.Second
	maxTTLScale            = 1000
)

// Tier places a backend at a level of the cache.
type Tier struct {
	// Backend stores the entries: a [ValueBackend] or a [ByteBackend].
	Backend Backend
	// NoPromote leaves this tier to explicit writes: hits found in lower tiers are not copied
	// into it. By default they are.
	NoPromote bool
	// TTLScale makes this tier keep entries TTLScale × the strategy's lifetime (every window of
	// it). Zero means 1; it must lie in (0, 1000].
	TTLScale float64
	// Timeout bounds every call to a byte tier; a caller is never held longer. Zero means 250 ms.
	// It does not apply to value tiers, which never block.
	Timeout time.Duration
	// Owned hands the backend over to the cache: Close closes it after the cache has stopped
	// using it (a backend with a Close() or Close() error method). Constructors that build a
	// backend for you, such as redistier.NewCache, set it; a backend you built and keep using
	// stays yours.
	Owned bool
}

// BreakerOptions configures the circuit breaker that stops calling a failing byte tier.
type BreakerOptions struct {
	// Failures is how many consecutive failures open the breaker. Zero means 5.
	Failures int
	// Cooldown is how long an open breaker skips the tier before it lets one probe call through.
	// Zero means 1 s.
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
	}
	if err := o.DefaultStrategy.Validate(); err != nil {
		return fmt.Errorf("DefaultStrategy: %w", err)
	}
	switch {
	case o.LoadTimeout < 0:
		return fmt.Errorf("%w: LoadTimeout %v is negative", ErrInvalidOptions, o.LoadTimeout)
	case o.RefreshBackoff < 0:
		return fmt.Errorf("%w: RefreshBackoff %v is negative", ErrInvalidOptions, o.RefreshBackoff)
	case o.CompressAbove < 0:
		return fmt.Errorf("%w: CompressAbove %d is negative", ErrInvalidOptions, o.CompressAbove)
	case o.Breaker.Failures < 0:
		return fmt.Errorf("%w: Breaker.Failures %d is negative", ErrInvalidOptions, o.Breaker.Failures)
	case o.Breaker.Cooldown < 0:
		return fmt.Errorf("%w: Breaker.Cooldown %v is negative", ErrInvalidOptions, o.Breaker.Cooldown)
	case o.LeaseTTL < 0:
		return fmt.Errorf("%w: LeaseTTL %v is negative", ErrInvalidOptions, o.LeaseTTL)
	case o.LeaseTTL > 0 && o.LeaseTTL < time.Millisecond:
		return fmt.Errorf("%w: LeaseTTL %v is under a millisecond", ErrInvalidOptions, o.LeaseTTL)
	case o.LeaseWait < 0:
		return fmt.Errorf("%w: LeaseWait %v is negative", ErrInvalidOptions, o.LeaseWait)
	case o.MaxTagEntries < 0:
		return fmt.Errorf("%w: MaxTagEntries %d is negative", ErrInvalidOptions, o.MaxTagEntries)
	}
	return nil
}
