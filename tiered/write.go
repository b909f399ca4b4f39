package tiered

import (
	"context"
	"errors"
	"time"

	"github.com/stratacache/strata/internal/busframe"
)

// Every write of the cache goes through put: Set and Update unconditionally (as changes, under
// their key's lock: see generations), and everything that stores what a source call or a read
// returned — loads, refreshes, stale-if-error reloads, negative entries, batch loads and
// promotions — through commit, which writes only if the key has not changed since the
// generation was read.

// entryWrite is one entry on its way to the tiers.
type entryWrite struct {
	key      string
	value    any
	negative bool
	fp       uint64  // fingerprint of the value's type
	t        times   // logical times, as a tier of scale `scale` keeps them
	scale    float64 // 1 for a new write; the source tier's scale for a promotion
	size     int     // encoded size, for memory-bounded value tiers
	payload  []byte  // the codec's payload for byte tiers, compressed when flags says so
	flags    uint8
	encoded  bool // payload and flags are set (or none is needed)
	noBytes  bool // kept out of byte tiers (see writeOut)
	keepOut  bool // noBytes because another type's entry is there: not a dropped write
	tags     []string
	above    int  // tiers written: levels below above
	promoted bool // a promotion: only tiers with Promote on, counted as promotions
	change   bool // a Set or Update: a byte tier that misses it owes it (see outbox.go)
	// lease, when set, is the hold of the load that wrote e: its write to the lease tier is
	// fenced by lease.keys[leaseIdx]'s lease; fenced records that it was refused, so that the
	// tiers above are not written either.
	lease    *leaseHold
	leaseIdx int
	fenced   bool
}

// prepare builds the write of value (or of a "not found") under key with times t, encoding it
// for the byte tiers. An encoding error is returned with a write that keeps byte tiers out.
func (c *Cache) prepare(key string, value any, t times, negative bool, tags []string) (*entryWrite, error) {
	e := &entryWrite{key: key, value: value, negative: negative, t: t, scale: 1, tags: tags, above: len(c.tiers)}
	if negative {
		e.value, e.flags, e.encoded = nil, flagNegative, true
		return e, nil
	}
	e.fp = c.fps.ofValue(value)
	if !c.hasBytes {
		e.encoded = true
		if c.weighted {
			// A memory-bounded L1 weighs entries by their encoded size; measure it (as a
			// byte tier would encode it: a type that encodes itself, with its own method).
			if p, err := c.marshal(value); err == nil {
				e.size = len(p)
			}
		}
		return e, nil
	}
	var err error
	e.payload, e.flags, err = c.encode(value)
	e.encoded, e.size = true, len(e.payload)
	if err != nil {
		e.noBytes = true
		c.log.Warn("strata: value not written to byte tiers", "error", err)
	}
	return e, err
}

// commit writes e unless its key changed since gen was read; it reports whether it wrote.
func (c *Cache) commit(ctx context.Context, gen uint64, e *entryWrite) bool {
	return c.gens.commit(e.key, gen, func() { _, _ = c.put(ctx, e) })
}

// put writes e to the tiers below e.above, the lowest first, so that a reader never finds an
// entry in a tier above one that does not hold it yet. It returns how many tiers it wrote and,
// for a fail-closed cache, the byte tiers' errors.
func (c *Cache) put(ctx context.Context, e *entryWrite) (int, error) {
	now := time.Now().UnixNano()
	if !e.encoded && !e.noBytes {
		var err error
		if e.payload, e.flags, err = c.encode(e.value); err != nil {
			e.noBytes = true
		}
		e.encoded = true
	}
	n := 0
	var errs []error
	var maxTTL int64
	for i := e.above - 1; i >= 0; i-- {
		t := c.tiers[i]
		if e.promoted && !t.promote {
			continue
		}
		tt := e.t.rescale(now, e.scale, t.scale)
		ttl := tt.expiresAt - now
		if ttl <= 0 {
			continue
		}
		if t.vb != nil {
			t.vb.Set(e.key, newItem(e.value, tt, e.size, e.fp, e.negative), time.Duration(c.valueTTL(ttl)))
		} else {
			if e.noBytes {
				if !e.keepOut {
					t.ctr.dropped.inc()
				}
				continue
			}
			data := encodeEnvelope(&envelope{flags: e.flags, fp: e.fp, t: tt, payload: e.payload})
			var err error
			if e.lease != nil && t == c.lease.t {
				err = c.putLeased(ctx, e, data, time.Duration(ttl))
			} else {
				err = c.remoteSet(ctx, t, e.key, data, time.Duration(ttl))
			}
			if e.fenced {
				break // a newer load owns the key now: nothing above either
			}
			if err != nil {
				if e.change {
					// The tier may keep an older value: it owes a delete, and the caller is told.
					c.oweErr(t, err, []string{e.key}, "", nil)
					errs = append(errs, tierErr(t, err))
				} else if c.failClosed {
					errs = append(errs, tierErr(t, err))
				}
				continue
			}
		}
		maxTTL = max(maxTTL, ttl)
		n++
		if e.promoted {
			t.ctr.promotions.inc()
			c.ctr.promotions.inc()
		}
	}
	if len(e.tags) > 0 {
		c.indexTags(ctx, e.key, e.tags, time.Duration(maxTTL))
	}
	return n, errors.Join(errs...)
}

// Set stores value under key in every tier, each for the strategy's lifetime times the tier's
// scale (the zero Strategy means the cache's default). With a bus, the other instances drop their
// in-process copy of key (use [Cache.Update] to send them the value instead).
//
// Set is a change of key: a load or refresh of key that started before it stores nothing, so it
// cannot overwrite the value with an older one. A value the codec cannot encode is kept in the
// in-process tiers only, and its error is returned.
//
// A byte tier that cannot take the write (it fails, times out, or its breaker is open) may keep
// an older value, which other instances read: Set then returns an error wrapping
// [ErrTierUnavailable] (whatever the fail mode; the value is stored in the other tiers), and the
// tier owes a delete of key, applied before it serves any read again (see [TierStats.Owed]).
func (c *Cache) Set(ctx context.Context, key string, value any, s Strategy, opts ...WriteOption) error {
	if err := c.check(key); err != nil {
		return err
	}
	s, err := c.strategy(s)
	if err != nil {
		return err
	}
	w, err := writeOptions(opts)
	if err != nil {
		return err
	}
	return c.observeWrite(ctx, OpSet, key, func(ctx context.Context) error {
		c.ctr.sets.inc()
		e, encErr := c.prepare(key, value, s.times(time.Now().UnixNano(), false), false, w.tags)
		e.change = true
		var err error
		c.gens.change([]string{key}, func() {
			_, err = c.put(ctx, e)
			if encErr != nil {
				// An older encoded value must not outlive this write in the byte tiers.
				err = errors.Join(err, c.deleteBytes(ctx, []string{key}))
			}
		})
		return errors.Join(encErr, err, c.broadcast(ctx, &busframe.Message{Kind: busframe.Keys, Keys: []string{key}}))
	})
}

// removeKeys removes keys from every tier as a change (see generations) and, when broadcast is
// set, from the in-process tiers of every other instance.
func (c *Cache) removeKeys(ctx context.Context, keys []string, broadcast bool) error {
	var err error
	c.gens.change(keys, func() { err = c.deleteTiers(ctx, keys, true) })
	if broadcast {
		err = errors.Join(err, c.broadcast(ctx, &busframe.Message{Kind: busframe.Keys, Keys: keys}))
	}
	return err
}

// deleteTiers removes keys from the value tiers and, when remote is set, from the byte tiers,
// from the lowest tier up. It runs within a change of the keys. Unlike a dropped write, a failed
// delete leaves an old value behind, so its error is returned whatever the fail mode.
func (c *Cache) deleteTiers(ctx context.Context, keys []string, remote bool) error {
	var errs []error
	for i := len(c.tiers) - 1; i >= 0; i-- {
		t := c.tiers[i]
		if t.vb != nil {
			t.vb.Delete(keys...)
			continue
		}
		if !remote {
			continue
		}
		if err := c.remoteDelete(ctx, t, keys...); err != nil {
			c.oweErr(t, err, keys, "", nil)
			errs = append(errs, tierErr(t, err))
		}
	}
	return errors.Join(errs...)
}

// deleteBytes removes keys from the byte tiers.
func (c *Cache) deleteBytes(ctx context.Context, keys []string) error {
	var errs []error
	for _, t := range c.tiers {
		if t.bb == nil {
			continue
		}
		if err := c.remoteDelete(ctx, t, keys...); err != nil {
			c.oweErr(t, err, keys, "", nil)
			errs = append(errs, tierErr(t, err))
		}
	}
	return errors.Join(errs...)
}

// deleteValues removes keys from the in-process tiers.
func (c *Cache) deleteValues(keys ...string) {
	for _, t := range c.tiers {
		if t.vb != nil {
			t.vb.Delete(keys...)
		}
	}
}

// observeWrite runs fn as the write operation op and reports it to the Observer (key is the one
// key it concerns, or ""). Without an Observer it is a plain call.
func (c *Cache) observeWrite(ctx context.Context, op Op, key string, fn func(context.Context) error) error {
	return c.observe(ctx, op, &OpResult{Key: key}, fn)
}

// observe runs fn as operation op and reports it to the Observer with r, which fn may fill in,
// completed by the tier (-1), the error and the duration. Without an Observer it is a plain call.
func (c *Cache) observe(ctx context.Context, op Op, r *OpResult, fn func(context.Context) error) error {
	if c.obs == nil {
		return fn(ctx)
	}
	start := time.Now()
	ctx = c.obs.StartOp(ctx, op)
	err := fn(ctx)
	r.Tier, r.Err, r.Duration = -1, err, time.Since(start)
	c.obs.EndOp(ctx, op, *r)
	return err
}

// oneKey returns the key of a single-key operation, "" for several.
func oneKey(keys []string) string {
	if len(keys) == 1 {
		return keys[0]
	}
	return ""
}
