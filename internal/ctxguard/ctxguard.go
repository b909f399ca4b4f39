// Package ctxguard bounds calls into clients that take no context (gomemcache) or may hang where
// no context reaches (a file system that stops answering): the call runs on a goroutine of its
// own, and the caller is released as soon as its context is done or its deadline has passed,
// whatever the call does.
//
// tiered.ByteBackend requires every method to return promptly once its context is done; byte
// backends on such clients guard their own calls with this package.
package ctxguard

import (
	"context"
	"time"
)

// Call runs fn and returns its result, or ctx's error as soon as ctx is done (or its deadline has
// passed: a context may carry a deadline that no timer enforces) if fn has not returned by then.
// A context that can never end (context.Background) costs nothing: fn runs on the caller's
// goroutine. Otherwise fn runs on a goroutine of its own, which keeps running after an early
// return until fn ends: fn must end on its own (a client's socket timeout bounds it, say) and
// must not use anything the caller reuses once Call has returned.
func Call[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	return CallWithin(ctx, 0, fn)
}

// CallWithin is Call for a function known to end on its own within bound (a client whose
// timeouts bound every call; 0 means no such bound): when ctx cannot be cancelled and its deadline
// is at least bound away, fn runs on the caller's goroutine, since it ends before the deadline
// anyway.
func CallWithin[T any](ctx context.Context, bound time.Duration, fn func() (T, error)) (T, error) {
	done := ctx.Done()
	deadline, hasDeadline := ctx.Deadline()
	if done == nil && (!hasDeadline || bound > 0 && time.Until(deadline) >= bound) {
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
	var expired <-chan time.Time
	if hasDeadline {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case a := <-ch:
		return a.v, a.err
	case <-done:
		var zero T
		return zero, ctx.Err()
	case <-expired:
		var zero T
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		return zero, context.DeadlineExceeded
	}
}

// Do is Call for a function with no result but its error.
func Do(ctx context.Context, fn func() error) error {
	_, err := Call(ctx, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}
