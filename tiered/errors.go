package tiered

import (
	"errors"

	"github.com/stratacache/strata/internal/flight"
)

var (
	// ErrNotFound is what a loader returns when the value does not exist. With a strategy whose
	// NegativeTTL is set, the absence itself is cached and later reads return ErrNotFound without
	// calling the loader.
	ErrNotFound = errors.New("tiered: not found")
	// ErrInvalidOptions wraps every configuration error: of [New], of a [Strategy], of a
	// [WriteOption], of a pattern.
	ErrInvalidOptions = errors.New("tiered: invalid options")
	// ErrLoaderPanic is matched by the error of a loader that panicked; see [PanicError].
	ErrLoaderPanic = flight.ErrPanic
	// ErrTypeMismatch is returned when a cached or loaded value cannot be given the requested type.
	ErrTypeMismatch = errors.New("tiered: value has a different type")
	// ErrTierUnavailable wraps a tier failure surfaced to the caller: any failure for a
	// fail-closed cache, and for every cache a change (Set, SetMany, Update, Invalidate and its
	// pattern, tag and clear forms) that a byte tier could not take — it failed, timed out, or
	// its breaker was open. Such a tier may still hold an older value, which other instances
	// read, until it catches up: the cache keeps what it owes (TierStats.Owed) and applies it
	// before the tier serves this cache again, at the latest one breaker cooldown after the tier
	// answers again (see the package documentation, "Faults").
	ErrTierUnavailable = errors.New("tiered: tier unavailable")
	// ErrCloseTimeout is returned by Close when background loads did not end within LoadTimeout
	// plus a second: a loader that ignores its context keeps running after Close returns.
	ErrCloseTimeout = errors.New("tiered: close timed out")
	// ErrClosed is returned by operations on a closed cache.
	ErrClosed = errors.New("tiered: cache closed")
	// ErrEmptyKey is returned for an empty key.
	ErrEmptyKey = errors.New("tiered: empty key")
)

// PanicError is the error every waiter of a load receives when its loader panicked. It matches
// [ErrLoaderPanic] with errors.Is, and unwraps to the panic value when that is an error.
type PanicError = flight.PanicError
