package tiered

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// walk reads the tiers from level `from` down and returns the first usable entry, promoted into
// the tiers above it. It returns found == false when no tier holds one.
func (c *Cache) walk(ctx context.Context, key string, from int, dec decoder) (it *item, level int, promoted int, err error) {
	gen := c.gens.of(key)
	var raw []byte // the entry as a byte tier stored it
	for i := from; i < len(c.tiers); i++ {
		t := c.tiers[i]
		if t.vb != nil {
			raw, ok := t.vb.Get(key)
			if !ok {
				continue
			}
			cand, ok := raw.(*item)
			if !ok || (!cand.negative && !dec.accepts(cand.value)) {
				continue
			}
			it = cand
		} else {
			data, ok, terr := c.remoteGet(ctx, t, key)
			if terr != nil {
				if c.failClosed {
					return nil, -1, 0, tierErr(t, terr)
				}
				continue
			}
			if !ok {
				continue
			}
			cand, derr := c.decodeEntry(data, dec)
			if derr != nil {
				c.dropCorrupt(ctx, t, key, derr)
				continue
			}
			if cand == nil { // logically expired, Redis has not dropped it yet
				continue
			}
			it, raw = cand, data
		}
		if c.gens.of(key) != gen { // invalidated meanwhile: serve what was read, copy nothing
			return it, i, 0, nil
		}
		return it, i, c.promote(ctx, key, it, i, raw), nil
	}
	return nil, -1, 0, nil
}

// decodeEntry decodes an envelope into an item with the tier's own timestamps. It returns
// (nil, nil) for an entry whose time is up.
func (c *Cache) decodeEntry(data []byte, dec decoder) (*item, error) {
	env, err := decodeEnvelope(data)
	if err != nil {
		return nil, err
	}
	if env.expiresAt <= time.Now().UnixNano() {
		return nil, nil
	}
	it := &item{staleAt: env.staleAt, expiresAt: env.expiresAt, negative: env.negative(), size: len(env.payload)}
	if it.negative {
		return it, nil
	}
	payload := env.payload
	if env.flags&flagCompressed != 0 {
		if payload, err = decompress(payload); err != nil {
			return nil, err
		}
	}
	if it.value, err = dec.decode(c.codec, payload); err != nil {
		return nil, fmt.Errorf("%w: %s codec: %w", ErrCorruptEntry, c.codec.Name(), err)
	}
	return it, nil
}

// dropCorrupt counts and deletes an entry that could not be decoded.
func (c *Cache) dropCorrupt(ctx context.Context, t *tier, key string, err error) {
	c.ctr.corrupt.Add(1)
	t.ctr.corrupt.Add(1)
	c.log.Warn("strata: dropping undecodable entry", "tier", t.name, "level", t.level+1, "error", err)
	_ = c.remoteDelete(ctx, t, key)
}

// promote copies an entry found at level `from` into every tier above it whose Promote is on.
// Byte tiers above get the payload exactly as it was stored (raw, the source envelope, when the
// hit came from a byte tier), never a re-encoding of the value as this read decoded it. The
// copy keeps the entry's exact remaining lifetime, converted from the source tier's scale to the
// target's: remaining / scale(source) × scale(target).
func (c *Cache) promote(ctx context.Context, key string, it *item, from int, raw []byte) int {
	if from == 0 {
		return 0
	}
	now := time.Now().UnixNano()
	src := c.tiers[from]
	var payload []byte
	var flags uint8
	if raw != nil {
		if env, err := decodeEnvelope(raw); err == nil {
			payload, flags = env.payload, env.flags
		}
	}
	n := 0
	for j := from - 1; j >= 0; j-- {
		t := c.tiers[j]
		if !t.promote {
			continue
		}
		f := t.scale / src.scale
		staleAt := now + scaled(it.staleAt-now, f)
		expiresAt := now + scaled(it.expiresAt-now, f)
		ttl := time.Duration(expiresAt - now)
		if ttl <= 0 {
			continue
		}
		if staleAt > expiresAt {
			staleAt = expiresAt
		}
		if it.staleAt == it.expiresAt {
			staleAt = expiresAt
		}
		if t.vb != nil {
			t.vb.Set(key, &item{value: it.value, staleAt: staleAt, expiresAt: expiresAt, size: it.size, negative: it.negative}, ttl)
		} else {
			if payload == nil && !it.negative {
				var err error
				if payload, flags, err = c.encode(it.value); err != nil {
					continue
				}
			}
			if it.negative {
				flags = flagNegative
			}
			env := envelope{flags: flags, created: now, staleAt: staleAt, expiresAt: expiresAt, payload: payload}
			if c.remoteSet(ctx, t, key, appendEnvelope(make([]byte, 0, envelopeHeaderLen+len(payload)), &env), ttl) != nil {
				continue
			}
		}
		t.ctr.promotions.Add(1)
		c.ctr.promotions.Add(1)
		n++
	}
	return n
}

// encode marshals v with the codec and compresses it when configured; flags carries the
// envelope's compressed bit.
func (c *Cache) encode(v any) (payload []byte, flags uint8, err error) {
	payload, err = c.codec.Marshal(v)
	if err != nil {
		return nil, 0, fmt.Errorf("tiered: %s codec cannot encode %T: %w", c.codec.Name(), v, err)
	}
	if p, ok := c.comp.compress(payload); ok {
		return p, flagCompressed, nil
	}
	return payload, 0, nil
}

// isNotFoundErr reports whether a loader error means "no such value". A panic never does, even
// one whose value wraps a not-found error.
func (c *Cache) isNotFoundErr(err error) bool {
	var pe *PanicError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, ErrNotFound) || (c.isNotFound != nil && c.isNotFound(err))
}

func stack() []byte { return debug.Stack() }
