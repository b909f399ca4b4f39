package decorate

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/stratacache/strata/tiered"
)

// engine is what every wrapper shares: the cache, the policy, and the reads that go beyond
// tiered.Load (refresh-ahead, stale-if-error, negative results with the source's own error).
//
// Time model of an entry written by a wrapper, with TTL t, RefreshAhead r and StaleIfError e:
// the cache sees it fresh for t+e (so every tier keeps it that long), and the wrapper treats it as
// fresh for t only. Within r before t a read starts a background refresh; between t and t+e a read
// calls the source and falls back to the entry when the source fails. After t+e the cache's own
// policy applies (its Stale window, then a miss).
type engine[T any] struct {
	c        *tiered.Cache
	name     string
	strategy tiered.Strategy // resolved: never the zero Strategy
	notFound []error
	cachedNF error // what a read answered by a cached "not found" returns
	isNF     func(error) bool
	ahead    int64 // RefreshAhead, ns
	sie      int64 // StaleIfError, ns
	timed    bool  // ahead or sie set: reads look at the clock
	timeout  time.Duration
	backoff  time.Duration
	log      *slog.Logger

	flight flight[T]

	mu       sync.Mutex
	failures map[string]*backoffState

	stats counters
}

// backoffState delays the next refresh of a key whose refresh failed.
type backoffState struct {
	failures int
	next     int64 // Unix ns before which no refresh starts
}

// maxBackoffKeys bounds the failure records a wrapper keeps; expired ones are pruned beyond it.
const maxBackoffKeys = 10_000

func newEngine[T any](c *tiered.Cache, o *Options) (*engine[T], error) {
	if err := o.validate(c); err != nil {
		return nil, err
	}
	e := &engine[T]{
		c:        c,
		name:     o.Name,
		strategy: o.Strategy,
		notFound: o.NotFound,
		isNF:     o.IsNotFound,
		ahead:    int64(o.RefreshAhead),
		sie:      int64(o.StaleIfError),
		timeout:  o.RefreshTimeout,
		backoff:  o.RefreshBackoff,
		log:      o.Logger,
		failures: make(map[string]*backoffState),
	}
	if e.strategy.IsZero() {
		e.strategy = c.DefaultStrategy()
	}
	if e.notFound == nil {
		e.notFound = defaultNotFound
	}
	e.cachedNF = cachedNotFound(e.notFound)
	if e.timeout == 0 {
		e.timeout = c.LoadTimeout()
	}
	if e.backoff == 0 {
		e.backoff = DefaultRefreshBackoff
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.timed = e.ahead > 0 || e.sie > 0
	return e, nil
}

// isNotFound reports whether a source error means "no such value".
func (e *engine[T]) isNotFound(err error) bool {
	if errors.Is(err, tiered.ErrNotFound) {
		return true
	}
	for _, nf := range e.notFound {
		if errors.Is(err, nf) {
			return true
		}
	}
	return e.isNF != nil && e.isNF(err)
}

// notFoundErr is what a read answered by a cached "not found" returns (see cachedNotFound).
func (e *engine[T]) notFoundErr() error { return e.cachedNF }

// writeStrategy is the strategy of one write: with StaleIfError, the TTL (jittered here, once)
// is extended by the StaleIfError window so that the tiers keep the entry that much longer.
func (e *engine[T]) writeStrategy() tiered.Strategy {
	s := e.strategy
	if e.sie == 0 {
		return s
	}
	ttl := s.TTL
	if s.Jitter > 0 {
		ttl -= time.Duration(float64(ttl) * s.Jitter * rand.Float64())
	}
	s.TTL, s.Jitter = ttl+time.Duration(e.sie), 0
	return s
}

// servable reports whether an entry found by tiered.Peek is answered at once, with nothing else
// to do. Without RefreshAhead and StaleIfError, an entry without a stale window needs no clock.
func (e *engine[T]) servable(info tiered.EntryInfo) bool {
	if info.Negative {
		return true
	}
	if !e.timed {
		return info.StaleAt == info.ExpiresAt || time.Now().UnixNano() < info.StaleAt
	}
	return time.Now().UnixNano() < info.StaleAt-e.sie-e.ahead
}

// hit answers a read from a servable entry.
func (e *engine[T]) hit(ctx context.Context, v T, info tiered.EntryInfo) (T, error) {
	e.c.RecordHit(ctx, info.Negative)
	if info.Negative {
		var zero T
		return zero, e.notFoundErr()
	}
	return v, nil
}

// slow answers a read that tiered.Peek could not answer at once. peeked says whether L1 held an
// entry (v, info) for key.
func (e *engine[T]) slow(ctx context.Context, key string, v T, info tiered.EntryInfo, peeked bool, load func(context.Context) (T, error)) (T, error) {
	if peeked && !info.Negative && e.timed {
		now := time.Now().UnixNano()
		logical := info.StaleAt - e.sie
		switch {
		case now < logical: // within RefreshAhead of expiry (or the clock moved since servable)
			e.c.RecordHit(ctx, false)
			if e.ahead > 0 {
				e.refresh(ctx, key, load)
			}
			return v, nil
		case e.sie > 0 && now < info.StaleAt: // expired, kept for stale-if-error
			e.c.RecordHit(ctx, false)
			return e.reload(ctx, key, v, load)
		}
	}
	v, err := tiered.Load(ctx, e.c, key, e.writeStrategy(), e.source(load))
	if err != nil {
		var zero T
		return zero, e.translate(err)
	}
	if e.timed {
		// The value may come from a lower tier, where it could be near or past its expiry.
		if _, info, ok := tiered.Peek[T](e.c, key); ok && !info.Negative {
			now := time.Now().UnixNano()
			logical := info.StaleAt - e.sie
			switch {
			case e.ahead > 0 && now >= logical-e.ahead && now < logical:
				e.refresh(ctx, key, load)
			case e.sie > 0 && now >= logical && now < info.StaleAt:
				return e.reload(ctx, key, v, load)
			}
		}
	}
	return v, nil
}

// source adapts a source for tiered.Load: its "not found" errors become errors the cache
// recognises (and caches as misses) while they keep the original.
func (e *engine[T]) source(load func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		v, err := load(ctx)
		if err != nil && e.isNotFound(err) {
			var nf *notFoundError
			if !errors.As(err, &nf) {
				err = &notFoundError{err: err}
			}
		}
		return v, err
	}
}

// translate turns a load's error into what the wrapper returns: the source's own "not found"
// error, or notFoundErr for a cached "not found".
func (e *engine[T]) translate(err error) error {
	if err == tiered.ErrNotFound {
		return e.notFoundErr()
	}
	return unwrapNotFound(err)
}

// loadAndStore calls the source and stores what it says: the value, or a "not found".
func (e *engine[T]) loadAndStore(ctx context.Context, key string, load func(context.Context) (T, error)) (T, error) {
	v, err := callSafely(ctx, load)
	switch {
	case err == nil:
		if serr := e.c.Set(ctx, key, v, e.writeStrategy()); serr != nil {
			e.log.Warn("strata/decorate: refreshed value not fully stored", "wrapper", e.name, "error", serr)
		}
	case e.isNotFound(err):
		e.storeNotFound(ctx, key)
	}
	return v, err
}

// storeNotFound replaces what the cache holds for key with a cached "not found", or removes it
// when the strategy caches no negative results.
func (e *engine[T]) storeNotFound(ctx context.Context, key string) {
	var err error
	if e.strategy.NegativeTTL > 0 {
		err = e.c.SetMany(ctx, []tiered.BatchValue{{Key: key, NotFound: true}}, e.strategy)
	} else {
		err = e.c.Invalidate(ctx, key)
	}
	if err != nil {
		e.log.Warn("strata/decorate: stale entry of a missing value not replaced", "wrapper", e.name, "error", err)
	}
}

// refresh starts one background refresh of key unless one is running or the key is backing off
// after failures.
func (e *engine[T]) refresh(ctx context.Context, key string, load func(context.Context) (T, error)) {
	if e.backingOff(key) {
		return
	}
	e.flight.start(ctx, e.c, key, e.timeout, func(ctx context.Context) (T, error) {
		e.stats.refreshes.Add(1)
		v, err := e.loadAndStore(ctx, key, load)
		if e.settle(key, err) {
			e.stats.refreshFailures.Add(1)
		}
		return v, err
	})
}

// backingOff reports whether key's last source call (a refresh or a reload) failed less than its
// backoff ago: no new call for key starts until then.
func (e *engine[T]) backingOff(key string) bool {
	now := time.Now().UnixNano()
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.failures[key]
	return b != nil && now < b.next
}

// settle records the outcome of a source call for key's refresh backoff and reports whether the
// call failed.
func (e *engine[T]) settle(key string, err error) bool {
	failed := err != nil && !e.isNotFound(err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !failed {
		delete(e.failures, key)
		return false
	}
	now := time.Now().UnixNano()
	b := e.failures[key]
	if b == nil {
		if len(e.failures) >= maxBackoffKeys {
			for k, old := range e.failures {
				if old.next <= now {
					delete(e.failures, k)
				}
			}
		}
		b = &backoffState{}
		e.failures[key] = b
	}
	b.failures++
	b.next = now + int64(e.backoff)<<min(b.failures-1, maxBackoffShift)
	e.log.Warn("strata/decorate: source call failed", "wrapper", e.name, "consecutive_failures", b.failures, "error", err)
	return true
}

// reload answers a read of an entry kept for stale-if-error: one source call for the key, however
// many callers; when it fails, the kept value is served instead of the error. After a failure the
// key backs off like a refresh: until the backoff has passed, reads serve the kept value without
// calling the source.
func (e *engine[T]) reload(ctx context.Context, key string, stale T, load func(context.Context) (T, error)) (T, error) {
	if e.backingOff(key) {
		e.stats.staleIfError.Add(1)
		return stale, nil
	}
	v, err := e.flight.do(ctx, e.c, key, e.timeout, func(ctx context.Context) (T, error) {
		e.stats.reloads.Add(1)
		v, err := e.loadAndStore(ctx, key, load)
		e.settle(key, err)
		return v, err
	})
	switch {
	case err == nil:
		return v, nil
	case e.isNotFound(err):
		var zero T
		return zero, unwrapNotFound(err)
	case ctx.Err() != nil:
		var zero T
		return zero, ctx.Err()
	}
	e.stats.staleIfError.Add(1)
	e.log.Debug("strata/decorate: source failed, serving the expired value", "wrapper", e.name, "error", err)
	return stale, nil
}
