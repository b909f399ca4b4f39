package tiered

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratacache/strata/internal/flight"
)

// Load returns the value cached under key, or calls fn to load it and caches the result with
// strategy s (the zero Strategy means the cache's default). s decides the entry's whole life —
// refresh-ahead, serve-stale-while-refresh, stale-if-error, negative caching: see [Strategy].
//
// However many goroutines miss the key at once, the tiers are walked once, by the first of them
// on its own goroutine, and fn is called once; the others wait for that result, each until its
// own ctx is done. The load runs detached from the callers' cancellation, bounded by
// Options.LoadTimeout, and its context keeps ctx's values (trace spans). A panic in fn (or a
// runtime.Goexit) reaches every waiter as an error, a *[PanicError] for a panic. Errors are not
// cached, except "not found" ([ErrNotFound], or what Options.IsNotFound recognises) when
// s.NegativeTTL is set: later calls then return ErrNotFound without calling fn until it expires.
//
// A load whose key is changed (Set, Update, Invalidate and their pattern, tag and clear forms,
// here or on another instance through the bus) while it runs gives its callers what it loaded but
// stores nothing. A byte tier that holds the key with a value of another Go type (another
// version of the service, say) is left alone: what fn returns goes to the in-process tiers only.
//
// An L1 hit is a lookup and a type check: no decoding, no allocation. The value is shared with
// other callers and must not be mutated.
func Load[T any](ctx context.Context, c *Cache, key string, s Strategy, fn func(context.Context) (T, error), opts ...WriteOption) (T, error) {
	var zero T
	if c == nil {
		return zero, errNilCache
	}
	if it := c.l1Get(key); it != nil && it.servable() {
		if it.negative {
			c.l1Hit(ctx, OpLoad, key, true)
			return zero, ErrNotFound
		}
		if v, ok := it.value.(T); ok {
			c.l1Hit(ctx, OpLoad, key, false)
			return v, nil
		}
	}
	if fn == nil {
		return zero, fmt.Errorf("%w: Load of %q: nil loader", ErrInvalidOptions, key)
	}
	v, err := c.read(ctx, OpLoad, key, s, typed[T]{}, func(ctx context.Context) (any, error) { return fn(ctx) }, opts)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok && v != nil {
		return zero, fmt.Errorf("%w: cached value is %T, want %T", ErrTypeMismatch, v, zero)
	}
	return t, nil
}

// Get returns the value cached under key. found is false when no tier holds it (or holds a cached
// "not found", or holds it past its freshness and serve-stale window). A tier holding the key with
// a value of another Go type gives [ErrTypeMismatch] (counted in Stats.TypeMismatches) when no
// tier holds one of type T. Concurrent Gets of one key share one tier walk.
func Get[T any](ctx context.Context, c *Cache, key string) (value T, found bool, err error) {
	if c == nil {
		return value, false, errNilCache
	}
	if it := c.l1Get(key); it != nil && it.servable() {
		if it.negative {
			c.l1Hit(ctx, OpGet, key, true)
			return value, false, nil
		}
		if v, ok := it.value.(T); ok {
			c.l1Hit(ctx, OpGet, key, false)
			return v, true, nil
		}
	}
	v, err := c.read(ctx, OpGet, key, Strategy{}, typed[T]{}, nil, nil)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return value, false, err
	}
	if v == nil {
		return value, false, nil
	}
	t, ok := v.(T)
	if !ok {
		return value, false, fmt.Errorf("%w: cached value is %T, want %T", ErrTypeMismatch, v, value)
	}
	return t, true, nil
}

// Lookup answers a read from L1 alone when L1 can serve key as it is — a fresh value of type T,
// or a cached "not found" (negative) — and counts and reports it as Load's fast path does. ok is
// false, and nothing is counted, otherwise: the caller then calls [Load], which deals with every
// other case (a miss, another type, an entry due for refresh, stale or kept for stale-if-error).
//
// Lookup does not retain key, so key may alias a reused buffer; with the embedded otter L1 it
// does not even make key escape to the heap. It is the fast path of adapters that build keys on
// the stack, such as the decorate wrappers.
func Lookup[T any](ctx context.Context, c *Cache, key string) (value T, negative bool, ok bool) {
	if c == nil || c.closed.Load() {
		return value, false, false
	}
	var raw any
	switch {
	case c.otterL1 != nil:
		raw, ok = c.otterL1.Get(key) // keeps no reference to key
	case c.l1 != nil:
		raw, ok = c.l1.Get(strings.Clone(key))
	}
	if !ok {
		return value, false, false
	}
	it, _ := raw.(*item)
	if it == nil || !it.servable() {
		return value, false, false
	}
	if it.negative {
		c.l1Hit(ctx, OpLoad, "", true)
		return value, true, true
	}
	if value, ok = it.value.(T); ok {
		c.l1Hit(ctx, OpLoad, "", false)
	}
	return value, false, ok
}

// errNilCache is returned by the functions that take a *Cache when it is nil.
var errNilCache = fmt.Errorf("%w: nil *Cache", ErrInvalidOptions)

// l1Get returns L1's item for key.
func (c *Cache) l1Get(key string) *item {
	if c.l1 == nil || c.closed.Load() {
		return nil
	}
	var raw any
	var ok bool
	if c.otterL1 != nil {
		raw, ok = c.otterL1.Get(key)
	} else {
		raw, ok = c.l1.Get(key)
	}
	if !ok {
		return nil
	}
	it, _ := raw.(*item)
	return it
}

// l1Hit accounts for a read answered by L1 on the fast path.
func (c *Cache) l1Hit(ctx context.Context, op Op, key string, negative bool) {
	c.tiers[0].ctr.hits.inc()
	outcome := OutcomeHit
	if negative {
		c.ctr.negative.inc()
		outcome = OutcomeNegative
	}
	if c.obs != nil && (c.obsFast == nil || c.obsFast.WantFastPath(ctx)) {
		ctx = c.obs.StartOp(ctx, op)
		c.obs.EndOp(ctx, op, OpResult{Outcome: outcome, Tier: 0, TierName: c.tiers[0].name, Key: key})
	}
}

// flightKey coalesces reads of one key into one Go type: readers of another type never share a
// result they could not use.
type flightKey struct {
	key string
	fp  uint64
}

// result is what a walk or load hands to every caller that shared it.
type result struct {
	value    any
	outcome  Outcome
	tier     int
	loaded   bool
	promoted int
}

// errAbandoned ends a walk whose leader gave up (its context ended) before it had an answer: the
// waiters then walk again, one of them leading.
var errAbandoned = errors.New("tiered: walk abandoned by its leader")

// read is the slow path of every read: one walk (and, with a loader, one load) per key and type
// at a time.
func (c *Cache) read(ctx context.Context, op Op, key string, s Strategy, dec decoder, loader func(context.Context) (any, error), opts []WriteOption) (any, error) {
	if err := c.check(key); err != nil {
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
	var start time.Time
	if c.obs != nil {
		start = time.Now()
		ctx = c.obs.StartOp(ctx, op)
	}
	fl := &c.walks
	if loader != nil {
		fl = &c.loads
	}
	fk := flightKey{key, dec.fingerprint(c)}
	var (
		res       result
		shared    bool
		leaderCtx context.Context
	)
	for {
		call, leader := fl.Join(ctx, fk)
		if leader {
			res, err = c.lead(ctx, fl, fk, call, s, dec, loader, w)
			break
		}
		res, err = call.Wait(ctx)
		if err != errAbandoned {
			shared, leaderCtx = true, call.Leader()
			break
		}
	}
	if shared {
		c.ctr.coalesced.inc()
		switch res.outcome {
		case OutcomeStale:
			c.ctr.stale.inc()
		case OutcomeStaleIfError:
			c.ctr.staleIfError.inc()
		}
	}
	if c.obs != nil {
		r := OpResult{Outcome: res.outcome, Tier: res.tier, Loaded: res.loaded, Promoted: res.promoted, Coalesced: shared, Leader: leaderCtx, Err: err, Key: key, Duration: time.Since(start)}
		if res.outcome == OutcomeNone {
			r.Tier = -1
		} else if res.tier >= 0 {
			r.TierName = c.tiers[res.tier].name
		}
		c.obs.EndOp(ctx, op, r)
	}
	if err != nil {
		return nil, err
	}
	return res.value, nil
}

// lead answers a read for every caller sharing it: it walks the tiers on the caller's goroutine
// and, when they hold nothing servable and there is a loader, runs one load detached from the
// caller — on a goroutine that Close waits for, unless ctx cannot be cancelled — and waits for it
// with ctx. It ends call in every case, so waiters are never left behind.
func (c *Cache) lead(ctx context.Context, fl *flight.Group[flightKey, result], fk flightKey, call *flight.Call[result], s Strategy, dec decoder, loader func(context.Context) (any, error), w writeConfig) (result, error) {
	key := fk.key
	gen := c.gens.of(key)
	var h *leaseHold
	if loader != nil {
		h = c.newLeaseHold(s, key)
	}
	wr, err := flight.Safely(func() (walked, error) { return c.walk(ctx, key, 0, dec, fk.fp, gen, h) }, func(err error) {
		fl.Finish(fk, call, result{}, err)
	})
	if h != nil && h.taken[0] && (err != nil || wr.it != nil) {
		c.releaseLeases(context.WithoutCancel(ctx), h) // a lower tier answered, or the walk failed
	}
	if err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*flight.PanicError)) {
			// The leader gave up; its waiters may not have: they walk again.
			fl.Finish(fk, call, result{}, errAbandoned)
			return result{tier: -1}, ctx.Err()
		}
		c.ctr.misses.inc()
		fl.Finish(fk, call, result{tier: -1}, err)
		return result{tier: -1}, err
	}
	it := wr.it
	now := wr.now
	if now == 0 {
		now = time.Now().UnixNano()
	}
	st := stateExpired
	if it != nil {
		st = it.t.at(now)
		if it.plain {
			st = stateFresh
		}
	}
	if it != nil && st != stateExpired && (st != stateStaleIfError || loader != nil) {
		res := result{value: it.value, outcome: OutcomeHit, tier: wr.level, promoted: wr.promoted}
		switch {
		case it.negative:
			c.tiers[wr.level].ctr.hits.inc()
			c.ctr.negative.inc()
			res.outcome = OutcomeNegative
			fl.Finish(fk, call, res, ErrNotFound)
			return res, ErrNotFound
		case st == stateFresh:
		case st == stateRefresh:
			if loader != nil {
				c.refresh(ctx, key, s, dec, loader, w)
			}
		case st == stateStale:
			c.ctr.stale.inc()
			res.outcome = OutcomeStale
			if loader != nil {
				c.refresh(ctx, key, s, dec, loader, w)
			}
		case st == stateStaleIfError:
			if c.backoff.active(key) {
				// The last load failed a moment ago: answer with the kept value without asking
				// the source again until the backoff has passed.
				c.tiers[wr.level].ctr.hits.inc()
				c.ctr.staleIfError.inc()
				res.outcome = OutcomeStaleIfError
				fl.Finish(fk, call, res, nil)
				return res, nil
			}
			return c.startLoad(ctx, fl, fk, call, gen, s, dec, loader, w, it, wr, nil)
		}
		c.tiers[wr.level].ctr.hits.inc()
		fl.Finish(fk, call, res, nil)
		return res, nil
	}
	if loader == nil {
		c.ctr.misses.inc()
		var err error
		if wr.mismatch {
			c.ctr.typeMismatches.inc()
			err = fmt.Errorf("%w: a tier holds the key with another Go type", ErrTypeMismatch)
		}
		res := result{outcome: OutcomeMiss, tier: -1}
		fl.Finish(fk, call, res, err)
		return res, err
	}
	return c.startLoad(ctx, fl, fk, call, gen, s, dec, loader, w, nil, wr, h)
}

// startLoad runs the load of a read that found nothing servable (stale is the entry kept for
// stale-if-error, or nil) and waits for it with ctx. h is the load's lease hold, or nil.
func (c *Cache) startLoad(ctx context.Context, fl *flight.Group[flightKey, result], fk flightKey, call *flight.Call[result], gen uint64, s Strategy, dec decoder, loader func(context.Context) (any, error), w writeConfig, stale *item, wr walked, h *leaseHold) (result, error) {
	if wr.foreign {
		c.ctr.typeMismatches.inc()
	}
	base := context.WithoutCancel(ctx)
	run := func() {
		fl.Run(fk, call, func() (result, error) {
			lctx, cancel := context.WithTimeout(base, c.loadTimeout)
			defer cancel()
			if h != nil {
				defer c.releaseLeases(lctx, h) // a load that stored nothing frees its lease at once
				res, answered, err := c.loadLeased(lctx, fk.key, &gen, dec, h, &wr)
				if answered {
					return res, err
				}
				w.lease = h
			}
			return c.loadAndStore(lctx, fk.key, gen, s, dec, loader, w, stale, wr)
		})
	}
	if ctx.Done() == nil || !c.bg.goFn(run) {
		run()
	}
	return call.Wait(ctx)
}

// loadAndStore calls the loader for key and stores what it returns through the conditional write
// path. With stale set (an entry kept for stale-if-error) a failing loader is answered with it.
func (c *Cache) loadAndStore(ctx context.Context, key string, gen uint64, s Strategy, dec decoder, loader func(context.Context) (any, error), w writeConfig, stale *item, wr walked) (result, error) {
	res := result{outcome: OutcomeMiss, tier: -1, loaded: true}
	v, err := c.runLoader(ctx, loader)
	if err == nil && !dec.accepts(v) {
		err = fmt.Errorf("%w: loader returned %T", ErrTypeMismatch, v)
	}
	if err == nil || stale == nil || c.isNotFoundErr(err) {
		c.ctr.misses.inc() // the read was not answered by a tier
	}
	switch {
	case err == nil:
		c.backoff.clear(key)
		res.value = v
		c.storeLoaded(ctx, key, gen, v, s, w, wr.foreign)
		return res, nil
	case c.isNotFoundErr(err):
		c.backoff.clear(key)
		c.storeNotFound(ctx, key, gen, s, w.lease)
		if !errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return res, err
	case stale != nil:
		c.backoff.fail(key)
		c.tiers[wr.level].ctr.hits.inc()
		c.ctr.staleIfError.inc()
		c.log.Debug("strata: load failed, serving the value kept for stale-if-error", "error", err)
		return result{value: stale.value, outcome: OutcomeStaleIfError, tier: wr.level, loaded: true}, nil
	}
	return res, err
}

// storeLoaded writes a value returned by a loader, unless key changed since gen was read. With
// foreign set (a byte tier holds another type's entry) it goes to the in-process tiers only.
func (c *Cache) storeLoaded(ctx context.Context, key string, gen uint64, v any, s Strategy, w writeConfig, foreign bool) {
	e, err := c.prepare(key, v, s.times(time.Now().UnixNano(), false), false, w.tags)
	if err != nil {
		c.log.Warn("strata: loaded value kept out of byte tiers", "error", err)
	}
	if foreign {
		e.noBytes, e.keepOut = true, true
	}
	e.lease = w.lease
	if !c.commit(ctx, gen, e) {
		c.ctr.superseded.inc()
	}
}

// storeNotFound records that key does not exist: a negative entry when s caches them, unless key
// changed since gen was read. Without negative caching an entry kept for stale-if-error or
// serve-stale is removed, so that the missing value is not served again. h is the load's lease
// hold, or nil.
func (c *Cache) storeNotFound(ctx context.Context, key string, gen uint64, s Strategy, h *leaseHold) {
	if s.NegativeTTL > 0 {
		e, _ := c.prepare(key, nil, s.times(time.Now().UnixNano(), true), true, nil)
		e.lease = h
		if !c.commit(ctx, gen, e) {
			c.ctr.superseded.inc()
		}
		return
	}
	if s.Stale > 0 || s.StaleIfError > 0 || s.RefreshAhead > 0 {
		if err := c.removeKeys(ctx, []string{key}, false); err != nil {
			c.log.Warn("strata: entry of a missing value not removed", "error", err)
		}
	}
}

// runLoader calls the loader, turning a panic into a *PanicError.
func (c *Cache) runLoader(ctx context.Context, loader func(context.Context) (any, error)) (v any, err error) {
	c.ctr.loads.inc()
	if c.obs != nil {
		ctx = c.obs.StartLoad(ctx)
	}
	start := time.Now()
	defer func() {
		if err != nil {
			c.ctr.loadErrors.inc()
		}
		if c.obs != nil {
			c.obs.EndLoad(ctx, err, time.Since(start))
		}
	}()
	return flight.Safely(func() (any, error) { return loader(ctx) }, nil)
}

// refresh starts one background load of key (unless one is running, or the key backs off after
// failures) to replace an entry due for refresh or stale. A lower tier may already hold a fresh
// copy written by another instance; then that copy is promoted and the loader is not called. A
// failing refresh leaves the entry in place.
func (c *Cache) refresh(ctx context.Context, key string, s Strategy, dec decoder, loader func(context.Context) (any, error), w writeConfig) {
	if c.backoff.active(key) {
		return
	}
	fk := flightKey{key, dec.fingerprint(c)}
	call, leader := c.refreshes.Join(ctx, fk)
	if !leader {
		return
	}
	base := context.WithoutCancel(ctx)
	started := c.bg.goFn(func() {
		c.refreshes.Run(fk, call, func() (result, error) {
			rctx, cancel := context.WithTimeout(base, c.loadTimeout)
			defer cancel()
			return c.runRefresh(rctx, key, s, dec, loader, w)
		})
	})
	if !started {
		c.refreshes.Finish(fk, call, result{}, ErrClosed)
	}
}

func (c *Cache) runRefresh(ctx context.Context, key string, s Strategy, dec decoder, loader func(context.Context) (any, error), w writeConfig) (res result, err error) {
	var start time.Time
	if c.obs != nil {
		start = time.Now()
		ctx = c.obs.StartOp(ctx, OpRefresh)
	}
	c.ctr.refreshes.inc()
	res = result{tier: -1}
	gen := c.gens.of(key)
	// A lower tier may hold a fresh copy another instance wrote: promote it, call nothing.
	wr, _ := c.walk(ctx, key, 1, dec, dec.fingerprint(c), gen, nil)
	if wr.it != nil && !wr.it.negative && wr.it.t.at(time.Now().UnixNano()) == stateFresh {
		res = result{value: wr.it.value, outcome: OutcomeHit, tier: wr.level, promoted: wr.promoted}
	} else {
		res.loaded = true
		var v any
		v, err = c.runLoader(ctx, loader)
		if err == nil && !dec.accepts(v) {
			err = fmt.Errorf("%w: loader returned %T", ErrTypeMismatch, v)
		}
		switch {
		case err == nil:
			c.backoff.clear(key)
			c.storeLoaded(ctx, key, gen, v, s, w, wr.foreign)
		case c.isNotFoundErr(err):
			c.backoff.clear(key)
			c.storeNotFound(ctx, key, gen, s, nil)
		default:
			c.backoff.fail(key)
			c.ctr.refreshFailures.inc()
			c.log.Warn("strata: refresh failed, entry kept", "error", err)
		}
	}
	if c.obs != nil {
		r := OpResult{Outcome: res.outcome, Tier: res.tier, Loaded: res.loaded, Err: err, Key: key, Duration: time.Since(start)}
		if res.tier >= 0 {
			r.TierName = c.tiers[res.tier].name
		}
		c.obs.EndOp(ctx, OpRefresh, r)
	}
	return res, err
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
