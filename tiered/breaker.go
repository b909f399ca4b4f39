package tiered

import (
	"sync/atomic"
	"time"
)

// BreakerState is the state of a tier's circuit breaker.
type BreakerState uint8

// Breaker states.
const (
	BreakerClosed   BreakerState = iota // calls go through
	BreakerOpen                         // calls are skipped until the cooldown ends
	BreakerHalfOpen                     // one probe call is in flight
)

var breakerNames = [...]string{"closed", "open", "half-open"}

// String returns the state's name.
func (s BreakerState) String() string {
	if int(s) < len(breakerNames) {
		return breakerNames[s]
	}
	return "unknown"
}

// breaker counts consecutive failures of a tier; at the threshold it opens and the tier is skipped
// until the cooldown has passed, after which exactly one call is let through as a probe: its
// success closes the breaker, its failure opens it again.
type breaker struct {
	state    atomic.Uint32
	failures atomic.Int32
	openedAt atomic.Int64
	limit    int32
	cooldown int64
}

func (b *breaker) init(o BreakerOptions) {
	b.limit, b.cooldown = int32(o.Failures), int64(o.Cooldown)
	if b.limit == 0 {
		b.limit = DefaultBreakerFailure
	}
	if b.cooldown == 0 {
		b.cooldown = int64(DefaultBreakerCool)
	}
}

// allow reports whether a call may go to the tier now.
func (b *breaker) allow() bool {
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		return true
	case BreakerOpen:
		if time.Now().UnixNano()-b.openedAt.Load() < b.cooldown {
			return false
		}
		return b.state.CompareAndSwap(uint32(BreakerOpen), uint32(BreakerHalfOpen))
	default:
		return false
	}
}

// success records a successful call; it reports whether the breaker just closed.
func (b *breaker) success() bool {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if BreakerState(b.state.Load()) == BreakerClosed {
		return false
	}
	b.state.Store(uint32(BreakerClosed))
	return true
}

// failure records a failed call; it reports whether the breaker just opened.
func (b *breaker) failure() bool {
	switch BreakerState(b.state.Load()) {
	case BreakerHalfOpen:
		b.openedAt.Store(time.Now().UnixNano())
		b.state.Store(uint32(BreakerOpen))
		return true
	case BreakerClosed:
		if b.failures.Add(1) >= b.limit {
			b.openedAt.Store(time.Now().UnixNano())
			return b.state.CompareAndSwap(uint32(BreakerClosed), uint32(BreakerOpen))
		}
	}
	return false
}

// abandon records a call that ended without telling anything about the tier (its caller gave
// up). When it was the half-open probe, the breaker goes back to open with its cooldown already
// served, so the next call probes again instead of the tier being skipped for good.
func (b *breaker) abandon() {
	if BreakerState(b.state.Load()) == BreakerHalfOpen {
		b.openedAt.Store(time.Now().UnixNano() - b.cooldown)
		b.state.CompareAndSwap(uint32(BreakerHalfOpen), uint32(BreakerOpen))
	}
}

func (b *breaker) current() BreakerState { return BreakerState(b.state.Load()) }
