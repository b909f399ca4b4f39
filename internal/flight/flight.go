// Package flight is strata's one single-flight: at most one call per key at a time, whose result
// every caller that arrives meanwhile shares. Every package that coalesces work (the tiered core's
// walks, loads and refreshes, its batch loads, the HTTP engine's origin requests) goes through it.
//
// A Group only keeps the table of calls; who runs a call, and where, is the leader's choice:
// inline on its own goroutine, or on a goroutine that outlives it (the tiered core starts those
// through its background tracker, which Close waits for). Run executes a call's function so that
// a panic or a runtime.Goexit in it still ends the call — with an error every waiter receives —
// and never wedges the key.
//
// Each waiter follows its own context: Wait returns the context's error when it ends first, and
// the call goes on for the others. A leader may end a call early (Finish) and keep working, as the
// HTTP engine does when it learns that a streaming response will not be stored: its followers are
// released at once and go to the origin themselves.
package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// ErrPanic is matched (errors.Is) by every *PanicError.
var ErrPanic = errors.New("strata: loader panicked")

// ErrGoexit is the error waiters receive when the call's function called runtime.Goexit (as
// testing's t.FailNow does) instead of returning.
var ErrGoexit = errors.New("strata: loader called runtime.Goexit")

// PanicError is what every waiter of a call receives when its function panicked.
type PanicError struct {
	// Value is what the function passed to panic.
	Value any
	// Stack is the panicking goroutine's stack at the time of the panic.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("strata: loader panicked: %v", e.Value) }

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Call is one call of a Group, shared by its leader and its waiters.
//
// Its done channel is made only when someone waits: a call that nobody waits for (a read answered
// at once by its leader, the common case) costs no channel. done, published and finished are
// guarded by the group's mutex, which mu points to.
type Call[V any] struct {
	mu        *sync.Mutex
	done      chan struct{}
	val       V
	err       error
	leader    context.Context
	finished  bool // claimed by a Finish: no other Finish counts
	published bool // val and err are set: Done is (or will be made) closed
}

// closed is the done channel of calls that finished before anybody waited.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// doneChan returns c's done channel, making it if needed.
func (c *Call[V]) doneChan() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.published {
			c.done = closed
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

// Leader returns the context of the caller that started the call (for linking traces).
func (c *Call[V]) Leader() context.Context { return c.leader }

// Done is closed when the call has finished.
func (c *Call[V]) Done() <-chan struct{} { return c.doneChan() }

// Result returns the call's result; it must be called after Done is closed.
func (c *Call[V]) Result() (V, error) { return c.val, c.err }

// waiting counts the goroutines blocked in Wait, in every group: tests use it to know that a
// caller has joined a call before they let the call finish.
var waiting atomic.Int64

// Waiting returns how many goroutines are blocked waiting for the result of a call.
func Waiting() int { return int(waiting.Load()) }

// Wait returns the call's result, or ctx's error when ctx ends first.
func (c *Call[V]) Wait(ctx context.Context) (V, error) {
	done := c.doneChan()
	select {
	case <-done:
		return c.val, c.err
	default:
	}
	waiting.Add(1)
	defer waiting.Add(-1)
	select {
	case <-done:
		return c.val, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// Group is a table of calls by key. The zero Group is ready to use.
type Group[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*Call[V]
}

// Join returns the call running for key, or starts one and reports leader == true: the caller
// then owns it and must end it with Finish or Run. ctx is recorded as the call's leader context.
func (g *Group[K, V]) Join(ctx context.Context, key K) (c *Call[V], leader bool) {
	g.mu.Lock()
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		return c, false
	}
	if g.calls == nil {
		g.calls = make(map[K]*Call[V])
	}
	c = &Call[V]{mu: &g.mu, leader: ctx}
	g.calls[key] = c
	g.mu.Unlock()
	return c, true
}

// Lookup returns the call running for key, if any, without starting one.
func (g *Group[K, V]) Lookup(key K) *Call[V] {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[key]
}

// Finish ends c with (v, err) and removes it from the table, so the next Join of key starts a new
// call. Only the first Finish of a call counts; it reports whether this one did.
func (g *Group[K, V]) Finish(key K, c *Call[V], v V, err error) bool {
	g.mu.Lock()
	if c.finished {
		g.mu.Unlock()
		return false
	}
	c.finished, c.published = true, true
	c.val, c.err = v, err
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	done := c.done
	g.mu.Unlock()
	if done != nil {
		close(done)
	}
	return true
}

// FinishAll ends several calls together: none of them is visible to new callers once the first
// result is handed out. result gives the outcome of calls[i].
func (g *Group[K, V]) FinishAll(keys []K, calls []*Call[V], result func(i int) (V, error)) {
	g.mu.Lock()
	live := make([]bool, len(calls))
	for i, c := range calls {
		if c.finished {
			continue
		}
		c.finished, live[i] = true, true
		if g.calls[keys[i]] == c {
			delete(g.calls, keys[i])
		}
	}
	g.mu.Unlock()
	type outcome struct {
		v   V
		err error
	}
	out := make([]outcome, len(calls))
	for i := range calls {
		if live[i] {
			out[i].v, out[i].err = result(i)
		}
	}
	g.mu.Lock()
	dones := make([]chan struct{}, len(calls))
	for i, c := range calls {
		if live[i] {
			c.val, c.err, c.published = out[i].v, out[i].err, true
			dones[i] = c.done
		}
	}
	g.mu.Unlock()
	for _, d := range dones {
		if d != nil {
			close(d)
		}
	}
}

// Run calls fn and finishes c with its result. A panic in fn finishes c with a *PanicError and is
// recovered; a runtime.Goexit finishes c with ErrGoexit and goes on unwinding the goroutine. Either
// way every waiter is released and key is free again.
func (g *Group[K, V]) Run(key K, c *Call[V], fn func() (V, error)) {
	v, err := Safely(fn, func(err error) {
		var zero V
		g.Finish(key, c, zero, err)
	})
	g.Finish(key, c, v, err)
}

// Len returns the number of calls running.
func (g *Group[K, V]) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

// Safely calls fn and returns its result; a panic in fn is recovered and returned as a
// *PanicError. When fn calls runtime.Goexit, onGoexit (if not nil) is called with ErrGoexit
// before the goroutine goes on unwinding — Safely then never returns.
func Safely[V any](fn func() (V, error), onGoexit func(error)) (v V, err error) {
	normal, recovered := false, false
	defer func() {
		if normal || recovered {
			return
		}
		if onGoexit != nil {
			onGoexit(ErrGoexit)
		}
	}()
	func() {
		defer func() {
			if r := recover(); r != nil {
				recovered = true
				var zero V
				v, err = zero, &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		v, err = fn()
		normal = true
	}()
	return v, err
}
