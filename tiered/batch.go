package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratacache/strata/internal/busframe"
	"github.com/stratacache/strata/internal/flight"
)

// BatchEntry is what [GetMany] found for one key.
type BatchEntry[T any] struct {
	// Value is the cached value when Found.
	Value T
	// Found reports a fresh value.
	Found bool
	// Negative reports a cached "not found" (Found is false).
	Negative bool
	// Tier is the level that answered, or -1.
	Tier int
}

// GetMany looks up many keys at once: L1 for all of them, then each byte tier for the keys still
// missing with one batch call when the backend implements [BatchGetter] (one MGET per node for
// Redis), falling back to one Get per key otherwise. Hits found below L1 are promoted like those of
// [Get]. The result has one entry per key, in order.
//
// GetMany serves fresh entries (those due for refresh included) and cached "not found"s; an entry
// past its freshness counts as a miss, so that the caller reloads it, and so does an entry of
// another Go type. Every key is counted once in Stats, as a hit of the tier that answered it or as
// a miss. A failing byte tier is skipped, as in a single read, unless the cache is fail-closed.
func GetMany[T any](ctx context.Context, c *Cache, keys []string) ([]BatchEntry[T], error) {
	if c == nil {
		return nil, errNilCache
	}
	var out []BatchEntry[T]
	r := OpResult{Keys: len(keys), Key: oneKey(keys)}
	err := c.observe(ctx, OpGetMany, &r, func(ctx context.Context) error {
		if err := c.checkKeys(keys); err != nil {
			return err
		}
		found, err := c.getMany(ctx, keys, c.gensOf(keys), typed[T]{})
		if err != nil {
			return err
		}
		out = make([]BatchEntry[T], len(keys))
		for i, it := range found.items {
			out[i].Tier = found.levels[i]
			switch {
			case it == nil:
			case it.negative:
				out[i].Negative = true
				r.Found++
			default:
				out[i].Found = true
				out[i].Value, _ = it.value.(T) // a nil decoded into an interface T is its zero value
				r.Found++
			}
		}
		c.ctr.misses.add(uint64(found.missing))
		return nil
	})
	return out, err
}

// LoadMany returns the values cached under keys and loads the others with one call of fn, which
// receives only the keys that no tier holds (and that no concurrent Load or LoadMany is already
// loading: those are waited for), and returns the values it found. What fn returns is stored with
// strategy s, through the same conditional write path as [Load]: a key changed while fn ran is
// returned but not stored. Keys fn does not return do not exist: they are absent from the result,
// and cached as "not found" when s.NegativeTTL is set. Duplicate keys are looked up once.
//
// The lookup is that of [GetMany]: L1, then one batch read per byte tier. fn runs detached from
// ctx's cancellation, bounded by Options.LoadTimeout; a panic in it fails every caller waiting for
// its keys with a *[PanicError]. A failing fn fails the calls that need its keys, and nothing of it
// is cached. The returned values are shared with other callers and must not be mutated.
func LoadMany[T any](ctx context.Context, c *Cache, keys []string, s Strategy, fn func(ctx context.Context, missing []string) (map[string]T, error), opts ...WriteOption) (map[string]T, error) {
	if c == nil {
		return nil, errNilCache
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: LoadMany: nil loader", ErrInvalidOptions)
	}
	var out map[string]T
	r := OpResult{Keys: len(keys), Key: oneKey(keys)}
	err := c.observe(ctx, OpGetMany, &r, func(ctx context.Context) error {
		var err error
		out, err = loadMany(ctx, c, dedupe(append([]string(nil), keys...)), s, fn, opts)
		r.Found = len(out)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func loadMany[T any](ctx context.Context, c *Cache, keys []string, s Strategy, fn func(context.Context, []string) (map[string]T, error), opts []WriteOption) (map[string]T, error) {
	if err := c.checkKeys(keys); err != nil {
		return nil, err
	}
	s, err := c.strategy(s)
	if err != nil {
		return nil, err
	}
	w, err := writeOptions(opts)
	if err != nil {
		return nil, err
	}
	dec := typed[T]{}
	gens := c.gensOf(keys)
	found, err := c.getMany(ctx, keys, gens, dec)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(keys))
	fp := dec.fingerprint(c)
	type wait struct {
		key  string
		call *flight.Call[result]
	}
	var (
		waits               []wait
		ownKeys             []string
		ownGens             []uint64
		ownCalls            []*flight.Call[result]
		ownForeign          []bool
		waited, missedLocal int
	)
	for i, it := range found.items {
		k := keys[i]
		switch {
		case it != nil && it.negative:
			continue
		case it != nil:
			out[k], _ = it.value.(T)
			continue
		}
		fk := flightKey{k, fp}
		call, leader := c.loads.Join(ctx, fk)
		waits = append(waits, wait{k, call})
		if !leader {
			waited++
			continue
		}
		// Another load may have stored this key and left the flight since the lookup above:
		// L1 holds it then.
		if l1 := c.l1Get(k); l1 != nil && l1.servable() && (l1.negative || dec.accepts(l1.value)) {
			c.tiers[0].ctr.hits.inc()
			if l1.negative {
				c.loads.Finish(fk, call, result{}, ErrNotFound)
			} else {
				c.loads.Finish(fk, call, result{value: l1.value, outcome: OutcomeHit}, nil)
			}
			continue
		}
		missedLocal++
		ownKeys, ownGens, ownCalls = append(ownKeys, k), append(ownGens, gens[i]), append(ownCalls, call)
		ownForeign = append(ownForeign, found.foreign[i])
	}
	c.ctr.misses.add(uint64(missedLocal))
	c.ctr.coalesced.add(uint64(waited))
	if len(ownKeys) > 0 {
		fks := make([]flightKey, len(ownKeys))
		for i, k := range ownKeys {
			fks[i] = flightKey{k, fp}
		}
		base := context.WithoutCancel(ctx)
		// load calls fn for the keys sel of ownKeys (all of them without leases) and stores
		// and hands out what it returns.
		load := func(lctx context.Context, sel []int, w writeConfig) {
			allFks, allCalls := fks, ownCalls // a Goexit ends them all
			ownKeys, ownGens, ownForeign, fks, ownCalls := pick(sel, ownKeys), pick(sel, ownGens), pick(sel, ownForeign), pick(sel, fks), pick(sel, ownCalls)
			got, err := flight.Safely(func() (map[string]T, error) {
				v, err := c.runLoader(lctx, func(ctx context.Context) (any, error) { return fn(ctx, ownKeys) })
				m, _ := v.(map[string]T)
				return m, err
			}, func(err error) {
				c.loads.FinishAll(allFks, allCalls, func(int) (result, error) { return result{}, err })
			})
			if err != nil && c.isNotFoundErr(err) {
				got, err = nil, nil // nothing of the batch exists
			}
			if err != nil {
				c.loads.FinishAll(fks, ownCalls, func(int) (result, error) { return result{}, err })
				return
			}
			values := make(map[string]any, len(got))
			for k, v := range got {
				values[k] = v
			}
			c.storeMany(lctx, ownKeys, ownGens, ownForeign, values, s, w)
			c.loads.FinishAll(fks, ownCalls, func(i int) (result, error) {
				if v, ok := got[ownKeys[i]]; ok {
					return result{value: v, outcome: OutcomeMiss, loaded: true}, nil
				}
				return result{loaded: true}, ErrNotFound
			})
		}
		run := func() {
			lctx, cancel := context.WithTimeout(base, c.loadTimeout)
			defer cancel()
			if h := c.newLeaseHold(s, ownKeys...); h != nil {
				defer c.releaseLeases(lctx, h) // what was not stored is released at once
				// No waiter is ever left behind, whatever happened (Finish ignores ended calls).
				defer c.loads.FinishAll(fks, ownCalls, func(int) (result, error) { return result{}, errNoAnswer })
				w.lease = h
				c.leaseBatch(lctx, h, ownGens, ownForeign, dec, func(i int, it *item) {
					if it.negative {
						c.loads.Finish(fks[i], ownCalls[i], result{}, ErrNotFound)
					} else {
						c.loads.Finish(fks[i], ownCalls[i], result{value: it.value, outcome: OutcomeHit, tier: c.lease.t.level}, nil)
					}
				}, func(sel []int) { load(lctx, sel, w) })
				return
			}
			load(lctx, nil, w)
		}
		if ctx.Done() == nil || !c.bg.goFn(run) {
			run()
		}
	}
	for _, wt := range waits {
		res, err := wt.call.Wait(ctx)
		switch {
		case err == nil:
			out[wt.key], _ = res.value.(T)
		case errors.Is(err, ErrNotFound):
		default:
			return nil, err
		}
	}
	return out, nil
}

// errNoAnswer ends the calls of a batch load that ended without answering them; it never
// happens unless the load's bookkeeping is wrong.
var errNoAnswer = errors.New("tiered: batch load ended without an answer for the key")

// pick returns the elements sel of s, or s itself when sel is nil.
func pick[E any](sel []int, s []E) []E {
	if sel == nil {
		return s
	}
	out := make([]E, len(sel))
	for j, i := range sel {
		out[j] = s[i]
	}
	return out
}

// storeMany stores what a batch load returned (and "not found"s for the keys it did not return,
// when s caches them) with one batch write per byte tier, each key unless it changed since its
// generation was read.
func (c *Cache) storeMany(ctx context.Context, keys []string, gens []uint64, foreign []bool, got map[string]any, s Strategy, w writeConfig) {
	now := time.Now().UnixNano()
	es := make([]*entryWrite, 0, len(keys))
	eKeys := make([]string, 0, len(keys))
	eGens := make([]uint64, 0, len(keys))
	for i, k := range keys {
		var e *entryWrite
		if v, ok := got[k]; ok {
			e, _ = c.prepare(k, v, s.times(now, false), false, w.tags)
			if foreign[i] {
				e.noBytes, e.keepOut = true, true
			}
		} else if s.NegativeTTL > 0 {
			e, _ = c.prepare(k, nil, s.times(now, true), true, nil)
		} else {
			continue
		}
		if w.lease != nil {
			e.lease, e.leaseIdx = w.lease, w.lease.index(k)
		}
		es, eKeys, eGens = append(es, e), append(eKeys, k), append(eGens, gens[i])
	}
	if len(es) == 0 {
		return
	}
	c.gens.commitMany(eKeys, eGens, func(ok []bool) {
		var keep []*entryWrite
		for i, e := range es {
			if ok[i] {
				keep = append(keep, e)
			} else {
				c.ctr.superseded.inc()
			}
		}
		_ = c.putMany(ctx, keep)
	})
}

// gensOf returns the generations of keys.
func (c *Cache) gensOf(keys []string) []uint64 {
	g := make([]uint64, len(keys))
	for i, k := range keys {
		g[i] = c.gens.of(k)
	}
	return g
}

// batchFound is what a batch lookup found: per key its item (nil for a miss) and its tier.
type batchFound struct {
	items   []*item
	levels  []int
	foreign []bool // a byte tier holds the key with another Go type
	missing int
}

// getMany is the lookup of GetMany and LoadMany. It counts the hits; the caller counts the misses.
func (c *Cache) getMany(ctx context.Context, keys []string, gens []uint64, dec decoder) (batchFound, error) {
	f := batchFound{items: make([]*item, len(keys)), levels: make([]int, len(keys)), foreign: make([]bool, len(keys))}
	missing := make([]int, len(keys))
	for i := range keys {
		f.levels[i] = -1
		missing[i] = i
	}
	fp := dec.fingerprint(c)
	now := time.Now().UnixNano()
	for level := 0; level < len(c.tiers) && len(missing) > 0; level++ {
		t := c.tiers[level]
		items := make([]*item, len(missing))
		var envs []*envelope
		if t.vb != nil {
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
					return f, tierErr(t, err)
				}
				continue
			}
			envs = make([]*envelope, len(missing))
			for j, i := range missing {
				if datas[j] == nil {
					continue
				}
				env, err := decodeEnvelope(datas[j])
				if err != nil {
					c.dropCorrupt(ctx, t, keys[i], err)
					continue
				}
				if env.t.expiresAt <= now {
					continue
				}
				if !env.negative() && fp != 0 && env.fp != fp {
					f.foreign[i] = true
					continue
				}
				it, err := c.decodeItem(&env, dec)
				if err != nil {
					c.dropCorrupt(ctx, t, keys[i], err)
					continue
				}
				items[j], envs[j] = it, &env
			}
		}
		if h := testHookBeforePromote; h != nil && t.bb != nil {
			for j, i := range missing {
				if items[j] != nil {
					h(keys[i])
				}
			}
		}
		still := missing[:0]
		for j, i := range missing {
			it := items[j]
			if it == nil || (!it.negative && !it.plain && now >= it.t.staleAt) {
				still = append(still, i)
				continue
			}
			f.items[i], f.levels[i] = it, level
			t.ctr.hits.inc()
			if it.negative {
				c.ctr.negative.inc()
			}
			var payload []byte
			var flags uint8
			if envs != nil {
				payload, flags = envs[j].payload, envs[j].flags
			}
			c.promote(ctx, keys[i], gens[i], it, level, payload, flags)
		}
		missing = still
	}
	f.missing = len(missing)
	for _, i := range missing {
		if f.foreign[i] {
			c.ctr.typeMismatches.inc()
		}
	}
	return f, nil
}

// remoteGetMany reads keys[idx...] from a byte tier under its breaker and timeout. The result has
// one element per index, nil for a miss.
func (c *Cache) remoteGetMany(ctx context.Context, t *tier, keys []string, idx []int) ([][]byte, error) {
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
	full := make([]string, len(idx))
	for j, i := range idx {
		full[j] = c.namespace + keys[i]
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

// SetMany stores many entries in every tier, as many calls of [Cache.Set] would (each a change
// of its key, each with its own jitter), with one batch write per byte tier when the backend
// implements [BatchSetter] (one pipeline for Redis), one Set per entry otherwise. Failures are
// handled as by Set: a byte tier that cannot take the writes drops them (counted), owes deletes
// of their keys and makes SetMany return an error wrapping [ErrTierUnavailable]; a value the codec cannot encode is kept out of byte tiers and its error returned,
// joined with the others. With a bus, the other instances drop their in-process copies.
func (c *Cache) SetMany(ctx context.Context, entries []BatchValue, s Strategy, opts ...WriteOption) error {
	key := ""
	if len(entries) == 1 {
		key = entries[0].Key
	}
	return c.observe(ctx, OpSetMany, &OpResult{Keys: len(entries), Key: key}, func(ctx context.Context) error {
		return c.setMany(ctx, entries, s, opts)
	})
}

func (c *Cache) setMany(ctx context.Context, entries []BatchValue, s Strategy, opts []WriteOption) error {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	if err := c.checkKeys(keys); err != nil || len(keys) == 0 {
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
	c.ctr.sets.add(uint64(len(entries)))
	now := time.Now().UnixNano()
	var errs []error
	es := make([]*entryWrite, 0, len(entries))
	var failed []string
	for _, en := range entries {
		if en.NotFound && s.NegativeTTL <= 0 {
			continue
		}
		e, err := c.prepare(en.Key, en.Value, s.times(now, en.NotFound), en.NotFound, w.tags)
		e.change = true
		if err != nil {
			errs = append(errs, err)
			failed = append(failed, en.Key)
		}
		es = append(es, e)
	}
	c.gens.change(keys, func() {
		errs = append(errs, c.putMany(ctx, es))
		if len(failed) > 0 {
			errs = append(errs, c.deleteBytes(ctx, failed))
		}
	})
	errs = append(errs, c.broadcast(ctx, &busframe.Message{Kind: busframe.Keys, Keys: keys}))
	return errors.Join(errs...)
}

// putMany writes entries to every tier, the lowest first, with one batch write per byte tier.
func (c *Cache) putMany(ctx context.Context, es []*entryWrite) error {
	if len(es) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	var errs []error
	maxTTL := make([]int64, len(es))
	for i := len(c.tiers) - 1; i >= 0; i-- {
		t := c.tiers[i]
		items := make([]batchItem, 0, len(es))
		var owners []*entryWrite // of items, for the lease tier
		for j, e := range es {
			if e.fenced {
				continue // refused by the lease tier: a newer load owns the key
			}
			tt := e.t.rescale(now, e.scale, t.scale)
			ttl := tt.expiresAt - now
			if ttl <= 0 {
				continue
			}
			if t.vb != nil {
				t.vb.Set(e.key, newItem(e.value, tt, e.size, e.fp, e.negative), time.Duration(c.valueTTL(ttl)))
				maxTTL[j] = max(maxTTL[j], ttl)
				continue
			}
			if e.noBytes {
				if !e.keepOut {
					t.ctr.dropped.inc()
				}
				continue
			}
			maxTTL[j] = max(maxTTL[j], ttl)
			data := encodeEnvelope(&envelope{flags: e.flags, fp: e.fp, t: tt, payload: e.payload})
			items = append(items, batchItem{key: e.key, data: data, ttl: time.Duration(ttl)})
			owners = append(owners, e)
		}
		if t.bb == nil || len(items) == 0 {
			continue
		}
		var err error
		if t == c.lease.t {
			err = c.putManyLeased(ctx, owners, items)
		} else {
			err = c.remoteSetMany(ctx, t, items)
		}
		if err != nil {
			if es[0].change {
				// A SetMany the tier missed: it owes deletes of the keys (see outbox.go).
				keys := make([]string, len(items))
				for i, it := range items {
					keys[i] = it.key
				}
				c.oweErr(t, err, keys, "", nil)
				errs = append(errs, tierErr(t, err))
			} else if c.failClosed {
				errs = append(errs, tierErr(t, err))
			}
		}
	}
	for j, e := range es {
		if len(e.tags) > 0 {
			c.indexTags(ctx, e.key, e.tags, time.Duration(maxTTL[j]))
		}
	}
	return errors.Join(errs...)
}

// batchItem is one entry of a batch write to a byte tier.
type batchItem struct {
	key  string
	data []byte
	ttl  time.Duration
}

// remoteSetMany writes items (keys without the namespace) to a byte tier.
func (c *Cache) remoteSetMany(ctx context.Context, t *tier, items []batchItem) error {
	bs, ok := t.bb.(BatchSetter)
	if !ok {
		var first error
		for _, it := range items {
			if err := c.remoteSet(ctx, t, it.key, it.data, it.ttl); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	keys := make([]string, len(items))
	data := make([][]byte, len(items))
	ttls := make([]time.Duration, len(items))
	for i, it := range items {
		keys[i], data[i], ttls[i] = c.namespace+it.key, it.data, it.ttl
	}
	_, _, err := c.callTier(ctx, t, CallSet, func(ctx context.Context) ([]byte, bool, error) {
		return nil, false, bs.SetMany(ctx, keys, data, ttls)
	})
	if err != nil {
		t.ctr.dropped.add(uint64(len(items)))
	}
	return err
}
