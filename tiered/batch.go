package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BatchEntry is what [GetMany] found for one key.
type BatchEntry[T any] struct {
	// Value is the cached value when Found.
	Value T
	// Found reports a fresh value.
	Found bool
	// Negative reports a cached "not found" (Found is false).
	Negative bool
	// Info is the entry's lifetime when Found or Negative.
	Info EntryInfo
	// Tier is the level that answered, or -1.
	Tier int
}

// GetMany looks up many keys at once: L1 for all of them, then each byte tier for the keys still
// missing with one batch call when the backend implements [BatchGetter] (one MGET per node for
// Redis), falling back to one Get per key otherwise. Hits found below L1 are promoted like those of
// [Get]. The result has one entry per key, in order.
//
// GetMany serves fresh entries and cached "not found"s; a stale entry counts as a miss, so that
// the caller reloads it. Every key is counted once in Stats, as a hit of the tier that answered it
// or as a miss. A failing byte tier is skipped, as in a single read, unless the cache is
// fail-closed.
func GetMany[T any](ctx context.Context, c *Cache, keys []string) ([]BatchEntry[T], error) {
	var out []BatchEntry[T]
	r := OpResult{Keys: len(keys), Key: oneKey(keys)}
	err := c.observe(ctx, OpGetMany, &r, func(ctx context.Context) (err error) {
		out, err = getMany[T](ctx, c, keys)
		for i := range out {
			if out[i].Found || out[i].Negative {
				r.Found++
			}
		}
		return err
	})
	return out, err
}

func getMany[T any](ctx context.Context, c *Cache, keys []string) ([]BatchEntry[T], error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	for _, k := range keys {
		if k == "" {
			return nil, ErrEmptyKey
		}
	}
	out := make([]BatchEntry[T], len(keys))
	missing := make([]int, len(keys))
	for i := range out {
		out[i].Tier = -1
		missing[i] = i
	}
	dec := typed[T]{}
	now := time.Now().UnixNano()
	for level := 0; level < len(c.tiers) && len(missing) > 0; level++ {
		t := c.tiers[level]
		var items []*item
		var raws [][]byte // the stored entries, for promotion
		if t.vb != nil {
			items = make([]*item, len(missing))
			for j, i := range missing {
				raw, ok := t.vb.Get(keys[i])
				if !ok {
					continue
				}
				if it, ok := raw.(*item); ok && (it.negative || dec.accepts(it.value)) {
					items[j] = it
				}
			}
		} else {
			datas, err := c.remoteGetMany(ctx, t, keys, missing)
			if err != nil {
				if c.failClosed {
					c.ctr.misses.Add(uint64(len(missing)))
					return nil, tierErr(t, err)
				}
				continue
			}
			items = make([]*item, len(missing))
			raws = datas
			for j, i := range missing {
				if datas[j] == nil {
					continue
				}
				it, derr := c.decodeEntry(datas[j], dec)
				if derr != nil {
					c.dropCorrupt(ctx, t, keys[i], derr)
					continue
				}
				items[j] = it
			}
		}
		still := missing[:0]
		for j, i := range missing {
			it := items[j]
			if it == nil || (!it.negative && !(it.staleAt == it.expiresAt || now < it.staleAt)) {
				still = append(still, i)
				continue
			}
			e := &out[i]
			e.Tier = level
			e.Info = EntryInfo{StaleAt: it.staleAt, ExpiresAt: it.expiresAt, Negative: it.negative}
			t.ctr.hits.Add(1)
			if it.negative {
				e.Negative = true
				c.ctr.negative.Add(1)
			} else {
				e.Found = true
				e.Value, _ = it.value.(T) // a nil decoded into an interface T is its zero value
			}
			var raw []byte
			if raws != nil {
				raw = raws[j]
			}
			c.promote(ctx, keys[i], it, level, raw)
		}
		missing = still
	}
	c.ctr.misses.Add(uint64(len(missing)))
	return out, nil
}

// remoteGetMany reads keys[idx...] from a byte tier under its breaker and timeout. The result has
// one element per index, nil for a miss.
func (c *Cache) remoteGetMany(ctx context.Context, t *tier, keys []string, idx []int) ([][]byte, error) {
	full := make([]string, len(idx))
	for j, i := range idx {
		full[j] = c.namespace + keys[i]
	}
	bg, ok := t.bb.(BatchGetter)
	if !ok {
		out := make([][]byte, len(idx))
		for j, i := range idx {
			data, hit, err := c.remoteGet(ctx, t, keys[i])
			if err != nil {
				return nil, err
			}
			if hit {
				out[j] = data
			}
		}
		return out, nil
	}
	var out [][]byte
	_, _, err := c.callTier(ctx, t, CallGet, func(ctx context.Context) ([]byte, bool, error) {
		res, err := bg.GetMany(ctx, full)
		if err == nil && len(res) != len(full) {
			err = fmt.Errorf("tiered: %s GetMany returned %d results for %d keys", t.name, len(res), len(full))
		}
		if err == nil {
			out = res
		}
		return nil, false, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BatchValue is one entry of [Cache.SetMany].
type BatchValue struct {
	// Key is the entry's key.
	Key string
	// Value is stored when NotFound is false.
	Value any
	// NotFound stores a cached "not found" instead, for the strategy's NegativeTTL (nothing is
	// stored when it is zero).
	NotFound bool
}

// SetMany stores many entries in every tier, each for the strategy's TTL times the tier's scale
// (jitter is drawn per entry), with one batch write per byte tier when the backend implements
// [BatchSetter] (one pipeline for Redis), one Set per entry otherwise. Failures are handled as by
// [Cache.Set]: a failing byte tier drops the writes (counted) unless the cache is fail-closed. A
// value the codec cannot encode is kept out of byte tiers and its error is returned, joined with
// the others.
func (c *Cache) SetMany(ctx context.Context, entries []BatchValue, s Strategy) error {
	key := ""
	if len(entries) == 1 {
		key = entries[0].Key
	}
	return c.observe(ctx, OpSetMany, &OpResult{Keys: len(entries), Key: key}, func(ctx context.Context) error {
		return c.setMany(ctx, entries, s)
	})
}

func (c *Cache) setMany(ctx context.Context, entries []BatchValue, s Strategy) error {
	if c.closed.Load() {
		return ErrClosed
	}
	for _, e := range entries {
		if e.Key == "" {
			return ErrEmptyKey
		}
	}
	s, err := c.strategy(s)
	if err != nil {
		return err
	}
	c.ctr.sets.Add(uint64(len(entries)))
	type prepared struct {
		key      string
		value    any
		negative bool
		lt       lifetime
		payload  []byte
		flags    uint8
		noBytes  bool // the codec failed: kept out of byte tiers
		size     int  // encoded size, for memory-bounded value tiers
	}
	now := time.Now().UnixNano()
	var errs []error
	list := make([]prepared, 0, len(entries))
	for _, e := range entries {
		p := prepared{key: e.Key, value: e.Value, negative: e.NotFound, lt: s.lifetime(e.NotFound)}
		if p.lt.fresh <= 0 {
			continue
		}
		if p.negative {
			p.flags = flagNegative
		} else if c.hasBytes {
			var encErr error
			if p.payload, p.flags, encErr = c.encode(e.Value); encErr != nil {
				errs = append(errs, encErr)
				c.log.Warn("strata: value not written to byte tiers", "error", encErr)
				p.noBytes = true
			}
		}
		if c.weighted && !c.hasBytes && !p.negative {
			// A memory-bounded L1 weighs entries by their encoded size; measure it.
			if b, err := c.codec.Marshal(e.Value); err == nil {
				p.size = len(b)
			}
		} else {
			p.size = len(p.payload)
		}
		list = append(list, p)
	}
	for i := len(c.tiers) - 1; i >= 0; i-- {
		t := c.tiers[i]
		items := make([]batchItem, 0, len(list))
		for _, p := range list {
			staleAt := now + scaled(p.lt.fresh, t.scale)
			expiresAt := staleAt + scaled(p.lt.stale, t.scale)
			ttl := time.Duration(expiresAt - now)
			if t.vb != nil {
				t.vb.Set(p.key, &item{value: p.value, staleAt: staleAt, expiresAt: expiresAt, size: p.size, negative: p.negative}, ttl)
				continue
			}
			if p.noBytes {
				t.ctr.dropped.Add(1)
				continue
			}
			env := envelope{flags: p.flags, created: now, staleAt: staleAt, expiresAt: expiresAt, payload: p.payload}
			items = append(items, batchItem{Key: p.key, Data: appendEnvelope(make([]byte, 0, envelopeHeaderLen+len(p.payload)), &env), TTL: ttl})
		}
		if t.bb == nil || len(items) == 0 {
			continue
		}
		if err := c.remoteSetMany(ctx, t, items); err != nil && c.failClosed {
			errs = append(errs, tierErr(t, err))
		}
	}
	return errors.Join(errs...)
}

// batchItem is one entry of a batch write to a byte tier.
type batchItem struct {
	Key  string
	Data []byte
	TTL  time.Duration
}

// remoteSetMany writes items (keys without the namespace) to a byte tier.
func (c *Cache) remoteSetMany(ctx context.Context, t *tier, items []batchItem) error {
	bs, ok := t.bb.(BatchSetter)
	if !ok {
		var first error
		for _, it := range items {
			if err := c.remoteSet(ctx, t, it.Key, it.Data, it.TTL); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	keys := make([]string, len(items))
	data := make([][]byte, len(items))
	ttls := make([]time.Duration, len(items))
	for i, it := range items {
		keys[i], data[i], ttls[i] = c.namespace+it.Key, it.Data, it.TTL
	}
	_, _, err := c.callTier(ctx, t, CallSet, func(ctx context.Context) ([]byte, bool, error) {
		return nil, false, bs.SetMany(ctx, keys, data, ttls)
	})
	if err != nil {
		t.ctr.dropped.Add(uint64(len(items)))
	}
	return err
}
