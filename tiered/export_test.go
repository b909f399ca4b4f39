package tiered

import "time"

// What the external tests (package tiered_test) may see of the cache's insides.

// TagKeyPrefix is the prefix, after the namespace, of the byte-tier tag index keys.
const TagKeyPrefix = tagKeyPrefix

// L1Value returns the value L1 holds under key, whatever its state, without counting anything.
func L1Value(c *Cache, key string) (any, bool) {
	if c.l1 == nil {
		return nil, false
	}
	raw, ok := c.l1.Get(key)
	if !ok {
		return nil, false
	}
	it, ok := raw.(*item)
	if !ok {
		return raw, true
	}
	return it.value, true
}

// L1ExpiresAt returns the end of the life of L1's entry under key (Unix ns).
func L1ExpiresAt(c *Cache, key string) (int64, bool) {
	raw, ok := c.l1.Get(key)
	if !ok {
		return 0, false
	}
	return raw.(*item).t.expiresAt, true
}

// PutL1 stores v in L1 under key as a fresh entry for an hour, behind the cache's back: the late
// write of a read that raced an invalidation.
func PutL1(c *Cache, key string, v any) {
	now := time.Now().UnixNano()
	end := now + int64(time.Hour)
	c.l1.Set(key, newItem(v, times{created: now, refreshAt: end, staleAt: end, swrEnd: end, expiresAt: end}, 8, c.fps.ofValue(v), false), time.Hour)
}

// BusDownHook, when set, runs on the bus goroutine as the cache handles a lost subscription,
// after it has cleared L1: a test can act while the subscription is down.
var BusDownHook = &testHookBusDown

// L1TTL returns how long the otter L1 keeps its entry under key.
func L1TTL(c *Cache, key string) (time.Duration, bool) {
	if c.otterL1 == nil {
		return 0, false
	}
	return c.otterL1.ExpiresAfter(key)
}

// BeforePromoteHook, when set, runs after a read found a key in a byte tier and before it
// promotes the entry (single reads and batches).
var BeforePromoteHook = &testHookBeforePromote

// Started returns how many goroutines the cache's background tracker has started.
func Started(c *Cache) int64 { return c.bg.started.Load() }

// RecheckPasses returns how many second passes (BusOptions.RecheckAfter) the cache's bus ran.
func RecheckPasses(c *Cache) int64 { return c.bus.passes.Load() }

// SetOwedLimits shrinks the bounds of the byte tiers' outboxes; restore puts them back.
func SetOwedLimits(keys, patterns int) (restore func()) {
	k, p := maxOwedKeys, maxOwedPatterns
	maxOwedKeys, maxOwedPatterns = keys, patterns
	return func() { maxOwedKeys, maxOwedPatterns = k, p }
}

// SetLeaseWaitHook makes f run whenever a load starts waiting for leases other instances hold,
// with their keys, until the returned function is called.
func SetLeaseWaitHook(f func(keys []string)) (restore func()) {
	testHookLeaseWait = f
	return func() { testHookLeaseWait = nil }
}
