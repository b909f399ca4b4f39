package decorate

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

	"github.com/stratacache/strata/tiered"
)

// flight runs at most one source call per key at a time for a wrapper: a refresh, a reload of an
// entry kept for stale-if-error, or the load of one ID of a batch. The call runs on a goroutine
// the cache's Close waits for, detached from the callers' cancellation and bounded by a timeout;
// each caller waits for it until its own context ends.
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func (c *flightCall[T]) finish(v T, err error) {
	c.v, c.err = v, err
	close(c.done)
}

// wait returns the call's result, or ctx's error when ctx ends first.
func (c *flightCall[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// claim returns the call running for key, or registers a new one and reports that the caller now
// owns it (and must end it with release).
func (f *flight[T]) claim(key string) (c *flightCall[T], owner bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[key]; ok {
		return c, false
	}
	if f.calls == nil {
		f.calls = make(map[string]*flightCall[T])
	}
	c = &flightCall[T]{done: make(chan struct{})}
	f.calls[key] = c
	return c, true
}

// release ends an owned call with its result.
func (f *flight[T]) release(key string, c *flightCall[T], v T, err error) {
	f.mu.Lock()
	if f.calls[key] == c {
		delete(f.calls, key)
	}
	f.mu.Unlock()
	c.finish(v, err)
}

// releaseMany ends owned calls together: none of them is visible to new callers once the first
// result is handed out. result gives the outcome of calls[i].
func (f *flight[T]) releaseMany(keys []string, calls []*flightCall[T], result func(i int) (T, error)) {
	f.mu.Lock()
	for i, k := range keys {
		if f.calls[k] == calls[i] {
			delete(f.calls, k)
		}
	}
	f.mu.Unlock()
	for i, c := range calls {
		c.finish(result(i))
	}
}

// start runs fn for key in the background unless a call for key is running. It returns the call
// and whether this caller started it. When the cache is closed nothing starts and c is nil.
func (f *flight[T]) start(ctx context.Context, cache *tiered.Cache, key string, timeout time.Duration, fn func(context.Context) (T, error)) (c *flightCall[T], started bool) {
	c, owner := f.claim(key)
	if !owner {
		return c, false
	}
	base := context.WithoutCancel(ctx)
	ok := cache.Background(func() {
		dctx, cancel := context.WithTimeout(base, timeout)
		defer cancel()
		v, err := callSafely(dctx, fn)
		f.release(key, c, v, err)
	})
	if !ok {
		var zero T
		f.release(key, c, zero, tiered.ErrClosed)
	}
	return c, true
}

// do runs fn for key (or joins the call running for it) and waits for the result.
func (f *flight[T]) do(ctx context.Context, cache *tiered.Cache, key string, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	c, _ := f.start(ctx, cache, key, timeout, fn)
	return c.wait(ctx)
}

// callSafely calls fn, turning a panic into a *tiered.PanicError.
func callSafely[T any](ctx context.Context, fn func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, &tiered.PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}
