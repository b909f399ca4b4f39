package ctxguard

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCallReturnsTheResult(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boom := errors.New("boom")
	for _, c := range []context.Context{ctx, context.Background()} {
		v, err := Call(c, func() (int, error) { return 7, boom })
		if v != 7 || !errors.Is(err, boom) {
			t.Fatalf("Call = %d %v", v, err)
		}
		if err := Do(c, func() error { return nil }); err != nil {
			t.Fatalf("Do = %v", err)
		}
	}
}

// A call that does not return is abandoned when the context is done: the caller gets the
// context's error at once, and the call finishes on its own goroutine when it can.
func TestCallReleasesTheCallerWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	entered := make(chan struct{})
	finished := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		_, err := Call(ctx, func() (int, error) {
			close(entered)
			<-release
			close(finished)
			return 1, nil
		})
		result <- err
	}()
	<-entered
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("Call of a stuck function after cancel = %v", err)
	}
	select {
	case <-finished:
		t.Fatal("the stuck call finished before it was released")
	default:
	}
	close(release)
	<-finished
}

func TestCallWithADoneContextDoesNotCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err := Do(ctx, func() error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("Do with a done context = %v, called %v", err, called)
	}
}

// deadlineOnly carries a deadline that no timer enforces: its Done channel is nil.
type deadlineOnly struct {
	context.Context
	d time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.d, true }

// A deadline without a Done channel still releases the caller of a stuck call.
func TestCallHonoursADeadlineWithoutDone(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ctx := deadlineOnly{context.Background(), time.Now().Add(20 * time.Millisecond)}
	_, err := Call(ctx, func() (int, error) { <-release; return 1, nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call past an untimed deadline = %v", err)
	}
}

// CallWithin runs a self-bounded function inline when it ends before the deadline anyway, and
// guards it otherwise.
func TestCallWithinRunsInlineOnlyWhenBounded(t *testing.T) {
	var inline bool
	check := func(ctx context.Context, bound time.Duration, want bool) {
		t.Helper()
		var caller, callee int64 = goid(), 0
		if _, err := CallWithin(ctx, bound, func() (int, error) { callee = goid(); return 0, nil }); err != nil {
			t.Fatal(err)
		}
		if inline = caller == callee; inline != want {
			t.Fatalf("bound %v: ran inline %v, want %v", bound, inline, want)
		}
	}
	far := deadlineOnly{context.Background(), time.Now().Add(time.Hour)}
	check(far, time.Second, true)
	check(far, 2*time.Hour, false)
	check(far, 0, false)
	cancellable, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	check(cancellable, time.Second, false)
	check(context.Background(), 0, true)
}

// goid returns the calling goroutine's id, read from its stack header.
func goid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	var id int64
	for _, c := range buf[len("goroutine "):n] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + int64(c-'0')
	}
	return id
}
