package tiered

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Load returns the value cached under key, or calls fn once to load it and caches the result with
// strategy s (the zero Strategy means the cache's default).
//
// However many goroutines miss the key at once, the tiers are walked and fn is called once; the
// others wait for that result, each until its own ctx is done. The load runs detached from the
// callers' cancellation, bounded by Options.LoadTimeout, and its context keeps ctx's values. A
// panic in fn reaches every waiter as a *[PanicError]. Errors are not cached, except "not found"
// ([ErrNotFound], or what Options.IsNotFound recognises) when s.NegativeTTL is set: later calls then
// return ErrNotFound without calling fn until it expires.
//
// An L1 hit is a lookup and a type check: no decoding, no allocation. The value is shared with
// other callers and must not be mutated.
func Load[T any](ctx context.Context, c *Cache, key string, s Strategy, fn func(context.Context) (T, error), opts ...WriteOption) (T, error) {
	if it := c.l1Fresh(key); it != nil {
		if it.negative {
			c.l1Hit(ctx, OpLoad, key, true)
			var zero T
			return zero, ErrNotFound
		}
		if v, ok := it.value.(T); ok {
			c.l1Hit(ctx, OpLoad, key, false)
			return v, nil
		}
	}
	if fn == nil {
		var zero T
		return zero, fmt.Errorf("tiered: Load of %q: nil loader", key)
	}
	v, err := c.read(ctx, OpLoad, key, s, typed[T]{}, func(ctx context.Context) (any, error) { return fn(ctx) }, opts)
	if err != nil {
		var zero T
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: cached value is %T, want %T", ErrTypeMismatch, v, zero)
	}
	return t, nil
}

// Get returns the value cached under key. found is false when no tier holds it (or holds a cached
// "not found"). Concurrent Gets of one key share one tier walk.
func Get[T any](ctx context.Context, c *Cache, key string) (value T, found bool, err error) {
	if it := c.l1Fresh(key); it != nil {
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

// Get copies the value cached under key into the variable dst points to and reports whether it
// was found. Values in byte tiers are decoded into dst's element type.
func (c *Cache) Get(ctx context.Context, key string, dst any) (found bool, err error) {
	dec, out, err := destination(dst)
	if err != nil {
		return false, err
	}
	v, err := c.read(ctx, OpGet, key, Strategy{}, dec, nil, nil)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return false, err
	}
	if v == nil {
		return false, nil
	}
	return true, assign(out, v, key)
}

// GetOrLoad is Load for values of dynamic type: it copies the cached value into the variable dst
// points to, or calls fn once (across concurrent callers) and caches what it returns, which must be
// assignable to dst's element type.
func (c *Cache) GetOrLoad(ctx context.Context, key string, dst any, s Strategy, fn func(context.Context) (any, error), opts ...WriteOption) error {
	dec, out, err := destination(dst)
	if err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("tiered: GetOrLoad of %q: nil loader", key)
	}
	v, err := c.read(ctx, OpLoad, key, s, dec, fn, opts)
	if err != nil {
		return err
	}
	return assign(out, v, key)
}

func destination(dst any) (dynamic, reflect.Value, error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return dynamic{}, rv, fmt.Errorf("%w: destination must be a non-nil pointer, got %T", ErrTypeMismatch, dst)
	}
	return dynamic{typ: rv.Type().Elem()}, rv.Elem(), nil
}

func assign(out reflect.Value, v any, key string) error {
	if v == nil {
		out.SetZero()
		return nil
	}
	rv := reflect.ValueOf(v)
	if !rv.Type().AssignableTo(out.Type()) {
		return fmt.Errorf("%w: cached value is %T, want %s", ErrTypeMismatch, v, out.Type())
	}
	out.Set(rv)
	return nil
}

// l1Fresh returns L1's item for key when it can be served as is (fresh, or a cached "not found").
func (c *Cache) l1Fresh(key string) *item {
	if c.l1 == nil || c.closed.Load() {
		return nil
	}
	raw, ok := c.l1.Get(key)
	if !ok {
		return nil
	}
	it, _ := raw.(*item)
	if it == nil || !it.fresh() {
		return nil
	}
	return it
}

// l1Hit accounts for a read answered by L1 on the fast path.
func (c *Cache) l1Hit(ctx context.Context, op Op, key string, negative bool) {
	c.tiers[0].ctr.hits.Add(1)
	outcome := OutcomeHit
	if negative {
		c.ctr.negative.Add(1)
		outcome = OutcomeNegative
	}
	if c.obs != nil && (c.obsFast == nil || c.obsFast.WantFastPath(ctx)) {
		ctx = c.obs.StartOp(ctx, op)
		c.obs.EndOp(ctx, op, OpResult{Outcome: outcome, Tier: 0, TierName: c.tiers[0].name, Key: key})
	}
}

// read is the slow path of every read: one walk (and, with a loader, one load) per key at a time.
func (c *Cache) read(ctx context.Context, op Op, key string, s Strategy, dec decoder, loader func(context.Context) (any, error), opts []WriteOption) (any, error) {
	if err := c.check(key); err != nil {
		return nil, err
	}
	s, err := c.strategy(s)
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
	res, shared, leader, err := fl.do(ctx, key, &c.bg, func() (result, error) {
		lctx, cancel := c.detach(ctx)
		defer cancel()
		return c.lead(lctx, key, s, dec, loader, opts)
	})
	if shared {
		c.ctr.coalesced.Add(1)
	}
	if c.obs != nil {
		r := OpResult{Outcome: res.outcome, Tier: res.tier, Loaded: res.loaded, Promoted: res.promoted, Coalesced: shared, Leader: leader, Err: err, Key: key, Duration: time.Since(start)}
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

// lead runs the walk and, on a miss, the loader, for every caller sharing this read.
func (c *Cache) lead(ctx context.Context, key string, s Strategy, dec decoder, loader func(context.Context) (any, error), opts []WriteOption) (result, error) {
	gen := c.gens.of(key)
	it, level, promoted, err := c.walk(ctx, key, 0, dec)
	if err != nil {
		c.ctr.misses.Add(1)
		return result{tier: -1}, err
	}
	if it != nil {
		c.tiers[level].ctr.hits.Add(1)
		res := result{value: it.value, outcome: OutcomeHit, tier: level, promoted: promoted}
		switch {
		case it.negative:
			c.ctr.negative.Add(1)
			res.outcome = OutcomeNegative
			return res, ErrNotFound
		case !it.fresh():
			c.ctr.stale.Add(1)
			res.outcome = OutcomeStale
			if loader != nil {
				c.refresh(ctx, key, s, dec, loader, level, opts)
			}
		}
		return res, nil
	}
	c.ctr.misses.Add(1)
	res := result{outcome: OutcomeMiss, tier: -1}
	if loader == nil {
		return res, nil
	}
	res.loaded = true
	v, err := c.runLoader(ctx, loader)
	if err != nil {
		if c.isNotFoundErr(err) {
			if s.NegativeTTL > 0 && c.gens.of(key) == gen {
				_ = c.store(ctx, key, nil, s, true, writeConfig{})
			}
			if !errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("%w: %w", ErrNotFound, err)
			}
		}
		return res, err
	}
	if !dec.accepts(v) {
		return res, fmt.Errorf("%w: loader returned %T", ErrTypeMismatch, v)
	}
	res.value = v
	if c.gens.of(key) != gen {
		// The key was invalidated or updated while the loader ran: its value may predate that, so
		// it goes to the callers but not into the cache.
		return res, nil
	}
	if err := c.store(ctx, key, v, s, false, writeOptions(opts)); err != nil {
		c.log.Warn("strata: loaded value not fully stored", "error", err)
	}
	return res, nil
}

// runLoader calls the loader, turning a panic into a *PanicError.
func (c *Cache) runLoader(ctx context.Context, loader func(context.Context) (any, error)) (v any, err error) {
	c.ctr.loads.Add(1)
	if c.obs != nil {
		ctx = c.obs.StartLoad(ctx)
	}
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, &PanicError{Value: r, Stack: stack()}
		}
		if err != nil {
			c.ctr.loadErrors.Add(1)
		}
		if c.obs != nil {
			c.obs.EndLoad(ctx, err, time.Since(start))
		}
	}()
	return loader(ctx)
}

// refresh starts one background load of key (unless one is running) to replace a stale entry found
// at level. A lower tier may already hold a fresh copy written by another process; then that copy
// is promoted and the loader is not called. A failing refresh leaves the stale entry in place.
func (c *Cache) refresh(ctx context.Context, key string, s Strategy, dec decoder, loader func(context.Context) (any, error), level int, opts []WriteOption) {
	base := context.WithoutCancel(ctx)
	c.refreshes.tryStart(key, &c.bg, func() (result, error) {
		rctx, cancel := c.detach(base)
		defer cancel()
		var start time.Time
		if c.obs != nil {
			start = time.Now()
			rctx = c.obs.StartOp(rctx, OpRefresh)
		}
		res := result{tier: -1}
		var err error
		gen := c.gens.of(key)
		if it, lvl, _, _ := c.walk(rctx, key, level+1, dec); it != nil && !it.negative && it.fresh() {
			res = result{value: it.value, outcome: OutcomeHit, tier: lvl}
		} else {
			res.loaded = true
			var v any
			if v, err = c.runLoader(rctx, loader); err == nil {
				if c.gens.of(key) == gen { // not invalidated while the loader ran
					err = c.store(rctx, key, v, s, false, writeOptions(opts))
				}
			} else if c.isNotFoundErr(err) && s.NegativeTTL > 0 && c.gens.of(key) == gen {
				_ = c.store(rctx, key, nil, s, true, writeConfig{})
			} else {
				c.log.Warn("strata: refresh failed, stale value kept", "error", err)
			}
		}
		if c.obs != nil {
			r := OpResult{Outcome: res.outcome, Tier: res.tier, Loaded: res.loaded, Err: err, Key: key, Duration: time.Since(start)}
			if res.tier >= 0 {
				r.TierName = c.tiers[res.tier].name
			}
			c.obs.EndOp(rctx, OpRefresh, r)
		}
		return res, err
	})
}
