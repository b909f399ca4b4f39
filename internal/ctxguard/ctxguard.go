// Package ctxguard bounds calls into clients that take no context (gomemcache) or may hang where
// no context reaches (a file system that stops answering): the call runs on a goroutine of its
// own, and the caller is released as soon as its context is done, whatever the call does.
//
// tiered.ByteBackend requires every method to return promptly once its context is done; byte
// backends on such clients guard their own calls with this package.
package ctxguard

import "context"

// Call runs fn and returns its result, or ctx's error as soon as ctx is done if fn has not
// returned by then. A context that can never be done (context.Background) costs nothing: fn runs
// on the caller's goroutine. Otherwise fn runs on a goroutine of its own, which keeps running
// after an early return until fn ends: fn must end on its own (a client's socket timeout bounds
// it, say) and must not use anything the caller reuses once Call has returned.
func Call[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return fn()
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	type answer struct {
		v   T
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		v, err := fn()
		ch <- answer{v, err}
	}()
	select {
	case a := <-ch:
		return a.v, a.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Do is Call for a function with no result but its error.
func Do(ctx context.Context, fn func() error) error {
	_, err := Call(ctx, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}
