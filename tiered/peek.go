package tiered

import (
	"context"
	"strings"
	"time"

	ottertier "github.com/stratacache/strata/tiered/otter"
)

// EntryInfo is the lifetime of a cached entry, as [Peek] reports it. Times are Unix nanoseconds.
type EntryInfo struct {
	// StaleAt is the end of the entry's freshness.
	StaleAt int64
	// ExpiresAt is the end of its stale window; it equals StaleAt when the entry has none.
	ExpiresAt int64
	// Negative marks a cached "not found".
	Negative bool
}

// Fresh reports whether the entry may be served without a refresh at time now (Unix nanoseconds).
// An entry without a stale window is fresh for as long as its tier keeps it.
func (e EntryInfo) Fresh(now int64) bool {
	return e.StaleAt == e.ExpiresAt || now < e.StaleAt
}

// Peek looks key up in L1 alone and returns what L1 holds there — fresh, stale or negative — with
// its lifetime. It is the building block of adapters that decide themselves what to do with an
// entry (refresh ahead of expiry, serve stale on error): it counts nothing, calls no observer and
// does not retain key, so key may alias a reused buffer (with the default otter L1 it does not even
// make key escape to the heap). ok is false when L1 holds nothing for key,
// holds a value of another type, or when the cache's first tier is not an in-process one.
//
// A caller that serves the value it peeked reports it with [Cache.RecordHit].
func Peek[T any](c *Cache, key string) (value T, info EntryInfo, ok bool) {
	if c.l1 == nil {
		return value, info, false
	}
	var (
		raw   any
		found bool
	)
	if ob, isOtter := c.l1.(*ottertier.Backend); isOtter {
		raw, found = ob.Get(key) // keeps no reference to key: a buffer on the caller's stack stays there
	} else {
		raw, found = c.l1.Get(strings.Clone(key))
	}
	if !found {
		return value, info, false
	}
	it, _ := raw.(*item)
	if it == nil {
		return value, info, false
	}
	info = EntryInfo{StaleAt: it.staleAt, ExpiresAt: it.expiresAt, Negative: it.negative}
	if it.negative {
		return value, info, true
	}
	v, isT := it.value.(T)
	if !isT {
		return value, EntryInfo{}, false
	}
	return v, info, true
}

// RecordHit accounts for a read that its caller answered from an entry obtained with [Peek], as
// the fast path of [Load] would: an L1 hit (negative when the entry was a cached "not found"),
// reported to the Observer as a load. The key is not reported (OpResult.Key is empty), so that
// callers can peek with a key that lives on their stack.
func (c *Cache) RecordHit(ctx context.Context, negative bool) {
	if c.l1 == nil {
		return
	}
	c.l1Hit(ctx, OpLoad, "", negative)
}

// DefaultStrategy returns the strategy that calls passing the zero Strategy use.
func (c *Cache) DefaultStrategy() Strategy { return c.def }

// LoadTimeout returns the bound of a detached load (Options.LoadTimeout or its default).
func (c *Cache) LoadTimeout() time.Duration { return c.loadTimeout }

// Background runs fn on a new goroutine that [Cache.Close] waits for, so that work started on
// behalf of the cache (an adapter's background refresh) ends before the cache does. fn must return
// in bounded time. It reports false, and does not run fn, when the cache is closed.
func (c *Cache) Background(fn func()) bool {
	return c.bg.goFn(fn)
}
