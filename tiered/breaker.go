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
//
// Every change of state starts a new epoch, and a call is admitted with the epoch of its time
// (its ticket). The result of a call admitted under an earlier epoch changes nothing: a slow
// success that started before the breaker opened does not close it, and a slow failure that
// started before the probe does not open it again while the probe runs.
//
// State and epoch live in one word, so every transition is a single compare-and-swap.
type breaker struct {
	word     atomic.Uint64 // epoch << 8 | state
	failures atomic.Int32  // consecutive failures in the current closed epoch
	openedAt atomic.Int64
	limit    int32
	cooldown int64
}

// ticket is what a call is admitted with.
type ticket uint64

func pack(epoch uint64, s BreakerState) uint64 { return epoch<<8 | uint64(s) }

func unpack(w uint64) (uint64, BreakerState) { return w >> 8, BreakerState(w & 0xff) }

func (b *breaker) init(o BreakerOptions) {
	b.limit, b.cooldown = int32(o.Failures), int64(o.Cooldown)
	if b.limit == 0 {
		b.limit = defaultBreakerFailures
	}
	if b.cooldown == 0 {
		b.cooldown = int64(defaultBreakerCooldown)
	}
}

// allow reports whether a call may go to the tier now, and its ticket.
func (b *breaker) allow() (ticket, bool) {
	w := b.word.Load()
	epoch, s := unpack(w)
	switch s {
	case BreakerClosed:
		return ticket(w), true
	case BreakerOpen:
		if time.Now().UnixNano()-b.openedAt.Load() < b.cooldown {
			return 0, false
		}
		probe := pack(epoch+1, BreakerHalfOpen)
		if b.word.CompareAndSwap(w, probe) {
			return ticket(probe), true
		}
	}
	return 0, false
}

// success records a successful call; it reports whether the breaker just closed.
func (b *breaker) success(t ticket) bool {
	w := uint64(t)
	epoch, s := unpack(w)
	switch s {
	case BreakerClosed:
		if b.word.Load() == w && b.failures.Load() != 0 {
			b.failures.Store(0)
		}
	case BreakerHalfOpen:
		if b.word.CompareAndSwap(w, pack(epoch+1, BreakerClosed)) {
			b.failures.Store(0)
			return true
		}
	}
	return false
}

// failure records a failed call; it reports whether the breaker just opened.
func (b *breaker) failure(t ticket) bool {
	w := uint64(t)
	epoch, s := unpack(w)
	switch s {
	case BreakerHalfOpen:
		b.openedAt.Store(time.Now().UnixNano())
		return b.word.CompareAndSwap(w, pack(epoch+1, BreakerOpen))
	case BreakerClosed:
		if b.word.Load() != w {
			return false // admitted before the breaker changed: says nothing about now
		}
		if b.failures.Add(1) >= b.limit {
			b.openedAt.Store(time.Now().UnixNano())
			return b.word.CompareAndSwap(w, pack(epoch+1, BreakerOpen))
		}
	}
	return false
}

// abandon records a call that ended without telling anything about the tier (its caller gave
// up). When it was the half-open probe, the breaker goes back to open with its cooldown already
// served, so the next call probes again instead of the tier being skipped for good.
func (b *breaker) abandon(t ticket) {
	w := uint64(t)
	epoch, s := unpack(w)
	if s == BreakerHalfOpen {
		b.openedAt.Store(time.Now().UnixNano() - b.cooldown)
		b.word.CompareAndSwap(w, pack(epoch+1, BreakerOpen))
	}
}

// due reports whether an open breaker's cooldown has passed (the next call probes).
func (b *breaker) due() bool {
	return time.Now().UnixNano()-b.openedAt.Load() >= b.cooldown
}

func (b *breaker) current() BreakerState {
	_, s := unpack(b.word.Load())
	return s
}
