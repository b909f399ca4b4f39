package tiered

import (
	"context"
	"errors"
	"time"
)

// Set stores value under key in every tier, each for the strategy's TTL times the tier's scale.
// The zero Strategy means the cache's default. A failing byte tier drops the write (counted in
// Stats) and Set still succeeds, unless the cache is fail-closed. An encoding error is returned
// and nothing is stored in byte tiers.
func (c *Cache) Set(ctx context.Context, key string, value any, s Strategy, opts ...WriteOption) error {
	if err := c.check(key); err != nil {
		return err
	}
	s, err := c.strategy(s)
	if err != nil {
		return err
	}
	return c.observeWrite(ctx, OpSet, key, func(ctx context.Context) error {
		c.ctr.sets.Add(1)
		return c.store(ctx, key, value, s, false, writeOptions(opts))
	})
}

// store writes value (or a negative entry) to every tier, the lowest first. w's tags are indexed
// for InvalidateTags.
func (c *Cache) store(ctx context.Context, key string, value any, s Strategy, negative bool, w writeConfig) error {
	_, _, _, err := c.storeLifetime(ctx, key, value, s.lifetime(negative), negative, w)
	return err
}

// storeLifetime is store with the lifetime already drawn. It returns the payload it encoded for
// the byte tiers and its flags (encoded is false when there was none to encode, or it failed), so
// that Update can broadcast the same bytes.
func (c *Cache) storeLifetime(ctx context.Context, key string, value any, lt lifetime, negative bool, w writeConfig) (payload []byte, flags uint8, encoded bool, err error) {
	if lt.fresh <= 0 {
		return nil, 0, false, nil
	}
	now := time.Now().UnixNano()
	var encErr error
	if negative {
		flags = flagNegative
	} else if c.hasBytes {
		payload, flags, encErr = c.encode(value)
		encoded = encErr == nil
	}
	size := len(payload)
	if c.weighted && !c.hasBytes && !negative {
		// A memory-bounded L1 weighs entries by their encoded size; measure it.
		if p, err := c.codec.Marshal(value); err == nil {
			size = len(p)
		}
	}
	var errs []error
	for i := len(c.tiers) - 1; i >= 0; i-- {
		t := c.tiers[i]
		fresh := scaled(lt.fresh, t.scale)
		staleAt := now + fresh
		expiresAt := staleAt + scaled(lt.stale, t.scale)
		ttl := time.Duration(expiresAt - now)
		if t.vb != nil {
			t.vb.Set(key, &item{value: value, staleAt: staleAt, expiresAt: expiresAt, size: size, negative: negative}, ttl)
			continue
		}
		if encErr != nil {
			t.ctr.dropped.Add(1)
			continue
		}
		env := envelope{flags: flags, created: now, staleAt: staleAt, expiresAt: expiresAt, payload: payload}
		data := appendEnvelope(make([]byte, 0, envelopeHeaderLen+len(payload)), &env)
		if err := c.remoteSet(ctx, t, key, data, ttl); err != nil && c.failClosed {
			errs = append(errs, tierErr(t, err))
		}
	}
	if len(w.tags) > 0 {
		c.indexTags(ctx, key, w.tags, time.Duration(int64(float64(lt.fresh+lt.stale)*c.maxScale())))
	}
	if encErr != nil {
		c.log.Warn("strata: value not written to byte tiers", "error", encErr)
		return nil, 0, false, encErr
	}
	return payload, flags, encoded, errors.Join(errs...)
}

// Delete removes the keys from every tier. Unlike a dropped write, a failed delete leaves an old
// value behind, so its error is returned whatever the fail mode.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if err := c.checkKeys(keys); err != nil || len(keys) == 0 {
		return err
	}
	return c.observeWrite(ctx, OpDelete, oneKey(keys), func(ctx context.Context) error {
		c.ctr.deletes.Add(1)
		return c.deleteLocal(ctx, keys, true)
	})
}

// deleteLocal removes keys from the value tiers and, when remote is set, from the byte tiers. It
// goes from the lowest tier up, so that a read running meanwhile cannot copy the old value from a
// lower tier back into one already cleared.
func (c *Cache) deleteLocal(ctx context.Context, keys []string, remote bool) error {
	c.gens.bump(keys...)
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
			errs = append(errs, tierErr(t, err))
		}
	}
	return errors.Join(errs...)
}

// maxScale is the largest TTLScale of the tiers: an index entry must outlive every copy it covers.
func (c *Cache) maxScale() float64 {
	m := 1.0
	for _, t := range c.tiers {
		m = max(m, t.scale)
	}
	return m
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
