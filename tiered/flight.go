package tiered

import (
	"context"
	"runtime/debug"
	"sync"
)

// flight runs at most one call per key at a time; callers that arrive while it runs wait for its
// result, each bounded by its own context. The call itself runs with a context detached from every
// caller (see Cache.detach), so the first caller's cancellation does not fail the others. A panic in
// the call becomes a *PanicError for every waiter and frees the key.
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done   chan struct{}
	res    result
	err    error
	leader context.Context
}

// result is what a walk or load hands to every caller that shared it.
type result struct {
	value    any
	outcome  Outcome
	tier     int
	loaded   bool
	promoted int
}

// do runs fn for key unless a call for key is already running, in which case it waits for that
// call. shared reports whether this caller waited on another's call; leader is that call's context.
// start runs fn: synchronously when the caller cannot be cancelled, otherwise on a new goroutine
// tracked by bg (or synchronously when the cache is closing).
func (f *flight) do(ctx context.Context, key string, bg *tasks, fn func() (result, error)) (res result, shared bool, leader context.Context, err error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.res, true, c.leader, c.err
		case <-ctx.Done():
			return result{}, true, c.leader, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{}), leader: ctx}
	f.calls[key] = c
	f.mu.Unlock()

	if ctx.Done() == nil || !bg.goFn(func() { f.run(key, c, fn) }) {
		f.run(key, c, fn)
		return c.res, false, nil, c.err
	}
	select {
	case <-c.done:
		return c.res, false, nil, c.err
	case <-ctx.Done():
		return result{}, false, nil, ctx.Err()
	}
}

// tryStart starts fn on a new goroutine unless a call for key is already running; it reports
// whether it started one. Nobody waits for the result.
func (f *flight) tryStart(key string, bg *tasks, fn func() (result, error)) bool {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	if _, ok := f.calls[key]; ok {
		f.mu.Unlock()
		return false
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	if !bg.goFn(func() { f.run(key, c, fn) }) {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
		return false
	}
	return true
}

func (f *flight) run(key string, c *call, fn func() (result, error)) {
	defer func() {
		if r := recover(); r != nil {
			c.res, c.err = result{}, &PanicError{Value: r, Stack: debug.Stack()}
		}
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.res, c.err = fn()
}

// running reports how many calls are in flight.
func (f *flight) running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}
