package tiered

import (
	"context"
	"fmt"
	"time"
)

// testHookBeforePromote, when set by a test, runs after a read found key in a byte tier and
// before it promotes the entry.
var testHookBeforePromote func(key string)

// walked is what a walk of the tiers found.
type walked struct {
	it       *item // the entry found, nil for none
	level    int   // its tier, -1 for none
	promoted int   // tiers it was copied into
	// foreign is set when a byte tier holds the key with a value of another Go type: a load
	// then leaves the byte tiers alone.
	foreign bool
	// mismatch is set when any tier holds the key with a value of another Go type.
	mismatch bool
	// now is when the byte tier that answered was called (Unix nanoseconds), 0 when no byte
	// tier answered: the entry's state is judged at that moment, which saves a clock read.
	now int64
}

// walk reads the tiers from level `from` down and returns the first entry of the reader's type
// (whose fingerprint, dec.fingerprint(c), is fp) that has not expired (fresh, due for refresh,
// stale or kept for stale-if-error), promoted into the tiers above it unless key changed since
// gen was read. A byte tier that fails is skipped (an error only for a fail-closed cache); an
// error is also returned when ctx ends. With a lease hold, the read of the lease tier takes the
// key's lease when that tier holds nothing.
func (c *Cache) walk(ctx context.Context, key string, from int, dec decoder, fp, gen uint64, h *leaseHold) (walked, error) {
	w := walked{level: -1}
	for i := from; i < len(c.tiers); i++ {
		t := c.tiers[i]
		if t.vb != nil {
			raw, ok := t.vb.Get(key)
			if !ok {
				continue
			}
			it, ok := raw.(*item)
			if !ok {
				continue
			}
			if !it.negative && !dec.accepts(it.value) {
				w.mismatch = true
				continue
			}
			w.it, w.level = it, i
			w.promoted = c.promote(ctx, key, gen, it, i, nil, 0)
			return w, nil
		}
		start := time.Now()
		data, ok, err := c.remoteRead(ctx, t, key, start, h)
		if err != nil {
			if ctx.Err() != nil {
				return w, ctx.Err()
			}
			if c.failClosed {
				return w, tierErr(t, err)
			}
			continue
		}
		if !ok {
			continue
		}
		env, err := decodeEnvelope(data)
		if err != nil {
			c.dropCorrupt(ctx, t, key, err)
			continue
		}
		now := start.UnixNano() // judged as of the read: the entry was there then
		if env.t.expiresAt <= now {
			continue // logically gone; the tier has not dropped it yet
		}
		if !env.negative() && fp != 0 && env.fp != fp {
			// Another Go type (or codec) wrote it: a miss for this reader, left in place.
			w.foreign, w.mismatch = true, true
			continue
		}
		it, err := c.decodeItem(&env, dec)
		if err != nil {
			c.dropCorrupt(ctx, t, key, err)
			continue
		}
		if h := testHookBeforePromote; h != nil {
			h(key)
		}
		w.it, w.level, w.now = it, i, now
		w.promoted = c.promote(ctx, key, gen, it, i, env.payload, env.flags)
		return w, nil
	}
	return w, nil
}

// decodeItem decodes an envelope's payload into an item of the reader's type.
func (c *Cache) decodeItem(env *envelope, dec decoder) (*item, error) {
	if env.negative() {
		return newItem(nil, env.t, 0, 0, true), nil
	}
	payload := env.payload
	if env.flags&flagCompressed != 0 {
		var err error
		if payload, err = decompress(payload); err != nil {
			return nil, err
		}
	}
	v, err := dec.decode(c, payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %s codec: %w", errCorrupt, c.codec.Name(), err)
	}
	return newItem(v, env.t, len(payload), env.fp, false), nil
}

// dropCorrupt counts and deletes an entry that could not be decoded (or was written in another
// format version).
func (c *Cache) dropCorrupt(ctx context.Context, t *tier, key string, err error) {
	c.ctr.corrupt.inc()
	t.ctr.corrupt.inc()
	c.log.Warn("strata: dropping undecodable entry", "tier", t.name, "level", t.level+1, "error", err)
	_ = c.remoteDelete(ctx, t, key)
}

// promote copies an entry found at level `from` into every tier above it whose Promote is on,
// unless key changed since gen was read (then the copy could bring back what the change removed).
// Byte tiers above get the payload exactly as it was stored (payload and flags, from the source
// envelope, when the hit came from a byte tier), never a re-encoding of the value as this read
// decoded it. The copy keeps the entry's exact remaining lifetime, converted from the source
// tier's scale to each target's: remaining / scale(source) × scale(target).
func (c *Cache) promote(ctx context.Context, key string, gen uint64, it *item, from int, payload []byte, flags uint8) int {
	if from == 0 {
		return 0
	}
	e := &entryWrite{
		key: key, value: it.value, negative: it.negative, fp: it.fp, t: it.t,
		scale: c.tiers[from].scale, size: it.size, payload: payload, flags: flags,
		above: from, promoted: true,
	}
	if it.negative {
		e.flags, e.encoded = flagNegative, true
	} else if payload != nil {
		e.encoded = true
	}
	n := 0
	if !c.gens.commit(key, gen, func() { n, _ = c.put(ctx, e) }) {
		c.ctr.superseded.inc()
	}
	return n
}
