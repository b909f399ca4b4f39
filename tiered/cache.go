package tiered

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/stratacache/strata/internal/flight"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// Cache is a tiered cache. It is safe for concurrent use. Build it with [New] and release it with
// [Cache.Close].
type Cache struct {
	tiers       []*tier
	l1          ValueBackend       // tiers[0]'s backend when it is a value tier
	otterL1     *ottertier.Backend // the same when it is the otter tier: called directly, keys need not escape
	codec       Codec
	fps         fingerprints
	namespace   string
	def         Strategy
	log         *slog.Logger
	obs         Observer
	obsFast     FastPathFilter // obs's, when it has one
	loadTimeout time.Duration
	isNotFound  func(error) bool
	failClosed  bool
	comp        *compressor
	hasBytes    bool
	weighted    bool // a value tier is bounded by bytes
	gens        generations
	backoff     backoffs

	walks, loads, refreshes flight.Group[flightKey, result]
	bg                      tasks
	closed                  atomic.Bool
	closing                 context.Context // done once Close starts: ends background repairs
	stopClosing             context.CancelFunc
	closeOwned              []func()
	ctr                     counters

	// Leases across instances (lease.go).
	lease leaseConfig

	// Coherence across instances (bus.go, invalidate.go, tags.go).
	bus  *coherence // nil without Options.Bus
	tags *tagIndex
	inv  invCounters
}

// tier is a Tier with its resolved settings, breaker and counters.
type tier struct {
	level   int
	name    string
	info    TierInfo
	vb      ValueBackend
	bb      ByteBackend
	promote bool
	scale   float64
	timeout time.Duration
	// readsBounded: the backend's reads end by their context's deadline on their own (see
	// ByteBackend), so they get a deadline without a timer.
	readsBounded bool
	br           breaker
	ctr          tierCounters
	owed         outbox // changes the tier could not take (byte tiers)
}

// New builds a cache from opts. It returns an error wrapping [ErrInvalidOptions] when opts are
// inconsistent. With Options.Bus it subscribes and waits up to BusOptions.StartTimeout for the
// subscription, but never fails because the bus is unreachable.
//
// Ownership, one rule: Close closes what the cache built — the default L1, and the tiers handed
// over with Tier.Owned by a constructor that built them — never what you passed in: your backends,
// clients and bus stay yours, to close after the cache.
func New(opts Options) (*Cache, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &Cache{
		codec:       opts.Codec,
		namespace:   opts.Namespace,
		def:         opts.DefaultStrategy,
		log:         opts.Logger,
		obs:         opts.Observer,
		loadTimeout: opts.LoadTimeout,
		isNotFound:  opts.IsNotFound,
		failClosed:  opts.FailClosed,
	}
	if f, ok := c.obs.(FastPathFilter); ok {
		c.obsFast = f
	}
	c.gens.init()
	c.closing, c.stopClosing = context.WithCancel(context.Background())
	if c.codec == nil {
		c.codec = defaultCodec
	}
	c.fps.codec = c.codec.Name()
	if c.def.policyZero() {
		lease := c.def.lease // Strategy{}.WithLease(on): the default strategy with that choice
		c.def = Default
		c.def.lease = lease
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.loadTimeout == 0 {
		c.loadTimeout = defaultLoadTimeout
	}
	c.backoff.base = opts.RefreshBackoff
	if c.backoff.base == 0 {
		c.backoff.base = defaultRefreshBackoff
	}
	if opts.CompressAbove > 0 {
		c.comp = &compressor{threshold: opts.CompressAbove}
	}
	tiers := opts.Tiers
	if len(tiers) == 0 {
		l1, err := ottertier.New(ottertier.Options{MaxEntries: defaultL1Entries})
		if err != nil {
			return nil, fmt.Errorf("%w: default L1: %w", ErrInvalidOptions, err)
		}
		c.closeOwned = append(c.closeOwned, l1.Close)
		tiers = []Tier{{Backend: l1}}
	}
	for _, t := range tiers {
		if !t.Owned {
			continue
		}
		switch b := t.Backend.(type) {
		case interface{ Close() error }:
			c.closeOwned = append(c.closeOwned, func() { _ = b.Close() })
		case interface{ Close() }:
			c.closeOwned = append(c.closeOwned, b.Close)
		}
	}
	for i, t := range tiers {
		rt := &tier{
			level:   i,
			name:    t.Backend.Name(),
			promote: !t.NoPromote,
			scale:   t.TTLScale,
			timeout: t.Timeout,
		}
		rt.info = TierInfo{Level: i, Name: rt.name}
		rt.br.init(opts.Breaker)
		if rt.scale == 0 {
			rt.scale = 1
		}
		if rt.timeout == 0 {
			rt.timeout = defaultTierTimeout
		}
		if vb, ok := t.Backend.(ValueBackend); ok {
			rt.vb = vb
			if w, ok := vb.(interface{ Weighted() bool }); ok && w.Weighted() {
				c.weighted = true
			}
		} else {
			rt.bb = t.Backend.(ByteBackend)
			if h, ok := t.Backend.(interface{ HonoursDeadline() bool }); ok && h.HonoursDeadline() {
				rt.readsBounded = true
			}
			c.hasBytes = true
		}
		c.tiers = append(c.tiers, rt)
	}
	c.initLeases(opts)
	if c.tiers[0].vb != nil {
		c.l1 = c.tiers[0].vb
		c.otterL1, _ = c.l1.(*ottertier.Backend)
	}
	if opts.MaxTagEntries > 0 {
		c.tags = newTagIndex(opts.MaxTagEntries)
	} else {
		c.tags = newTagIndex(defaultMaxTagEntries)
	}
	if opts.Bus != nil {
		h, err := newCoherence(c, opts.Bus, opts.BusOptions, opts.Breaker)
		if err != nil {
			c.releaseOwned()
			return nil, err
		}
		c.bus = h
		wait := opts.BusOptions.StartTimeout
		if wait == 0 {
			wait = defaultBusStartTimeout
		}
		if err := h.start(wait); err != nil {
			c.releaseOwned()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cache) releaseOwned() {
	c.stopClosing()
	for _, f := range c.closeOwned {
		f()
	}
}

// Close stops the cache's bus subscription, waits for background refreshes and detached loads to
// finish (each is bounded by LoadTimeout) and closes what the cache built (the default L1, tiers
// marked Owned). Backends, clients and the bus passed in Options belong to the caller, who closes
// them after the cache. Operations after Close return [ErrClosed].
//
// Close is bounded: the bus's stop (at most 1 s for the Redis bus, even against a server that
// accepts connections and never answers) plus the background work still running, at most
// LoadTimeout + 1 s (then Close returns [ErrCloseTimeout]). Background repairs of byte tiers that
// owe changes are abandoned at once.
func (c *Cache) Close() error {
	if c == nil || c.closed.Swap(true) {
		return nil
	}
	c.stopClosing()
	if c.bus != nil {
		c.bus.close()
	}
	var err error
	if limit := c.loadTimeout + time.Second; !c.bg.close(limit) {
		err = fmt.Errorf("%w: background loads still running after %v (a loader ignoring its context?)", ErrCloseTimeout, limit)
		c.log.Warn("strata: " + err.Error())
	}
	c.releaseOwned()
	return err
}

// Namespace returns Options.Namespace.
func (c *Cache) Namespace() string { return c.namespace }

// Tiers describes the cache's tiers, L1 first.
func (c *Cache) Tiers() []TierInfo {
	out := make([]TierInfo, len(c.tiers))
	for i, t := range c.tiers {
		out[i] = t.info
	}
	return out
}

// DefaultStrategy returns the strategy that calls passing the zero Strategy use.
func (c *Cache) DefaultStrategy() Strategy { return c.def }

// Background runs fn on a new goroutine that [Cache.Close] waits for, so that work started on
// behalf of the cache (an adapter's background revalidation) ends before the cache does. fn must
// return in bounded time. It reports false, and does not run fn, when the cache is closed.
func (c *Cache) Background(fn func()) bool {
	return c.bg.goFn(fn)
}

// strategy resolves the zero Strategy to the cache's default and validates any other.
func (c *Cache) strategy(s Strategy) (Strategy, error) {
	if s.IsZero() {
		return c.def, nil
	}
	if s.policyZero() {
		d := c.def
		d.lease = s.lease
		return d, nil
	}
	return s, s.Validate()
}

// usable reports why c cannot be used: it is nil, or closed.
func (c *Cache) usable() error {
	if c == nil {
		return errNilCache
	}
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (c *Cache) check(key string) error {
	if err := c.usable(); err != nil {
		return err
	}
	if key == "" {
		return ErrEmptyKey
	}
	return nil
}

// checkKeys validates the keys of a batch or removal.
func (c *Cache) checkKeys(keys []string) error {
	if err := c.usable(); err != nil {
		return err
	}
	for _, k := range keys {
		if k == "" {
			return ErrEmptyKey
		}
	}
	return nil
}

// valueTTL is how long a value tier keeps an entry whose lifetime is ttl: all of it, except while
// the bus subscription is down (see BusOptions.DownL1TTL).
func (c *Cache) valueTTL(ttl int64) int64 {
	if c.bus != nil && c.bus.down.Load() {
		return min(ttl, c.bus.downTTL)
	}
	return ttl
}

// errBreakerOpen marks a tier call skipped by an open breaker.
var errBreakerOpen = errors.New("tiered: circuit breaker open")

// tierErr wraps a tier failure for a fail-closed caller. An operation the tier's backend does
// not support ([ErrUnsupported]) is not a failure: its error only names the tier.
func tierErr(t *tier, err error) error {
	if errors.Is(err, ErrUnsupported) {
		return fmt.Errorf("%s (L%d): %w", t.name, t.level+1, err)
	}
	return fmt.Errorf("%w: %s (L%d): %w", ErrTierUnavailable, t.name, t.level+1, err)
}

// callTier runs one call to a byte tier under its breaker and timeout, and accounts for it.
func (c *Cache) callTier(ctx context.Context, t *tier, call TierCall, fn func(context.Context) ([]byte, bool, error)) (data []byte, hit bool, err error) {
	return c.callTierWithin(ctx, t, call, t.timeout, fn)
}

// callTierWithin is callTier with another budget than the tier's Timeout, for calls that walk
// many keys (pattern and tag deletes). Byte backends return when their context is done (see
// ByteBackend), so the timeout bounds the caller.
//
// An error wrapping ErrUnsupported (the backend cannot perform the operation, say a pattern
// delete on a client that cannot reach every node) says nothing about the tier's health: it is
// not counted in TierStats.Errors and does not count towards the breaker.
func (c *Cache) callTierWithin(ctx context.Context, t *tier, call TierCall, timeout time.Duration, fn func(context.Context) ([]byte, bool, error)) (data []byte, hit bool, err error) {
	return c.callTierAt(ctx, t, call, timeout, time.Time{}, fn)
}

// callTierAt is callTierWithin for a call that starts at start, a clock reading the caller took
// a moment before (clock reads are not free on every machine); the zero time reads the clock.
func (c *Cache) callTierAt(ctx context.Context, t *tier, call TierCall, timeout time.Duration, start time.Time, fn func(context.Context) ([]byte, bool, error)) (data []byte, hit bool, err error) {
	tk, ok := t.br.allow()
	if !ok {
		t.ctr.skipped.inc()
		if c.obs != nil {
			c.obs.EndTier(ctx, t.info, call, TierResult{BreakerOpen: true, Err: errBreakerOpen})
		}
		return nil, false, errBreakerOpen
	}
	if c.obs != nil {
		ctx = c.obs.StartTier(ctx, t.info, call)
	}
	if start.IsZero() {
		start = time.Now()
	}
	owed := t.owed.pending.Load()
	if owed && t.owed.bulk() {
		timeout = max(timeout, c.bulkTimeout(t))
	}
	var tctx context.Context
	var cancel context.CancelFunc
	if t.readsBounded && call == CallGet && !owed {
		tctx = withDeadline(ctx, start.Add(timeout))
	} else {
		tctx, cancel = context.WithTimeout(ctx, timeout)
	}
	if owed {
		// The tier serves nothing, and takes nothing, before it caught up on the changes it
		// missed (see outbox.go).
		err = c.repair(tctx, t)
	}
	if err == nil {
		data, hit, err = fn(tctx)
	}
	// A backend that honours the deadline may see its socket deadline expire a moment before
	// tctx's timer marks the context done, and a guard may enforce the deadline with a timer of
	// its own: while the caller's context is live, each means the tier ran out of its Timeout.
	timedOut := err != nil && ctx.Err() == nil && (tctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded))
	if cancel != nil {
		cancel()
	}
	switch {
	case err == nil:
		if t.br.success(tk) {
			c.log.Info("strata: tier answering again, circuit closed", "tier", t.name, "level", t.level+1)
			if c.obs != nil {
				c.obs.BreakerChanged(t.info, false)
			}
		}
	case ctx.Err() != nil && !timedOut, errors.Is(err, ErrUnsupported), err == errRepairing:
		// The caller gave up, or the backend cannot do what was asked (it may not even have
		// called the tier); that says nothing about the tier. If this call was the breaker's
		// probe, hand the probe on to a later call.
		t.br.abandon(tk)
	default:
		t.ctr.errors.inc()
		if timedOut {
			t.ctr.timeouts.inc()
			err = fmt.Errorf("%s call timed out after %v: %w", call, timeout, err)
		}
		c.log.Warn("strata: tier call failed", "tier", t.name, "level", t.level+1, "call", call.String(), "error", err)
		if t.br.failure(tk) {
			c.log.Warn("strata: circuit open, skipping tier", "tier", t.name, "level", t.level+1)
			if c.obs != nil {
				c.obs.BreakerChanged(t.info, true)
			}
		}
	}
	if c.obs != nil {
		c.obs.EndTier(ctx, t.info, call, TierResult{Hit: hit, Err: err, Timeout: timedOut, Duration: time.Since(start)})
	}
	return data, hit, err
}

// deadlineCtx is a context with an earlier deadline than its parent's and no timer: its Done
// channel is the parent's, so it suits only backends that end their calls by the deadline on
// their own.
type deadlineCtx struct {
	context.Context
	deadline time.Time
}

// withDeadline returns ctx bounded by d without arming a timer (ctx itself when its own
// deadline is earlier).
func withDeadline(ctx context.Context, d time.Time) context.Context {
	if pd, ok := ctx.Deadline(); ok && !d.Before(pd) {
		return ctx
	}
	return &deadlineCtx{ctx, d}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *Cache) remoteGet(ctx context.Context, t *tier, key string) (data []byte, ok bool, err error) {
	return c.remoteGetAt(ctx, t, key, time.Time{})
}

// remoteGetAt is remoteGet for a call that starts at start (see callTierAt).
func (c *Cache) remoteGetAt(ctx context.Context, t *tier, key string, start time.Time) (data []byte, ok bool, err error) {
	k := c.namespace + key
	return c.callTierAt(ctx, t, CallGet, t.timeout, start, func(ctx context.Context) ([]byte, bool, error) {
		return t.bb.Get(ctx, k)
	})
}

func (c *Cache) remoteSet(ctx context.Context, t *tier, key string, data []byte, ttl time.Duration) error {
	k := c.namespace + key
	_, _, err := c.callTier(ctx, t, CallSet, func(ctx context.Context) ([]byte, bool, error) {
		return nil, false, t.bb.Set(ctx, k, data, ttl)
	})
	if err != nil {
		t.ctr.dropped.inc()
	}
	return err
}

func (c *Cache) remoteDelete(ctx context.Context, t *tier, keys ...string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = c.namespace + k
	}
	_, _, err := c.callTier(ctx, t, CallDelete, func(ctx context.Context) ([]byte, bool, error) {
		return nil, false, t.bb.Delete(ctx, full...)
	})
	return err
}
