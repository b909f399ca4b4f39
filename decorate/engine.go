package decorate

import (
	"context"
	"errors"

	"github.com/stratacache/strata/tiered"
)

// engine is what every wrapper shares: the cache, the strategy, and the translation of "not
// found" errors. Everything about an entry's life — refresh-ahead, serve-stale, stale-if-error,
// negative caching, coalescing, the conditional write after a source call — is the cache's,
// through tiered.Load, tiered.Lookup and tiered.LoadMany.
type engine[T any] struct {
	c        *tiered.Cache
	strategy tiered.Strategy // as given: the zero Strategy is the cache's default
	notFound []error
	cachedNF error // what a read answered by a cached "not found" returns
	isNF     func(error) bool
}

func newEngine[T any](c *tiered.Cache, o *Options) (*engine[T], error) {
	if err := o.validate(c); err != nil {
		return nil, err
	}
	e := &engine[T]{c: c, strategy: o.Strategy, notFound: o.NotFound, isNF: o.IsNotFound}
	if e.notFound == nil {
		e.notFound = defaultNotFound
	}
	e.cachedNF = &cachedNotFound{list: e.notFound, recognise: e.isNotFound}
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

// load answers a read that tiered.Lookup could not answer from L1.
func (e *engine[T]) load(ctx context.Context, key string, src func(context.Context) (T, error)) (T, error) {
	v, err := tiered.Load(ctx, e.c, key, e.strategy, e.source(src))
	if err != nil {
		var zero T
		return zero, e.translate(err)
	}
	return v, nil
}

// hit answers a read that tiered.Lookup answered.
func (e *engine[T]) hit(v T, negative bool) (T, error) {
	if negative {
		var zero T
		return zero, e.cachedNF
	}
	return v, nil
}

// source adapts a source for the cache: its "not found" errors become errors the cache
// recognises (and caches as misses) while they keep the original.
func (e *engine[T]) source(src func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		v, err := src(ctx)
		if err != nil {
			err = e.markNotFound(err)
		}
		return v, err
	}
}

// markNotFound wraps a source's "not found" error so that the cache recognises it.
func (e *engine[T]) markNotFound(err error) error {
	if !e.isNotFound(err) {
		return err
	}
	var nf *notFoundError
	if errors.As(err, &nf) {
		return err
	}
	return &notFoundError{err: err}
}

// translate turns a load's error into what the wrapper returns: the source's own "not found"
// error, or cachedNF for a cached "not found".
func (e *engine[T]) translate(err error) error {
	if err == tiered.ErrNotFound {
		return e.cachedNF
	}
	return unwrapNotFound(err)
}
