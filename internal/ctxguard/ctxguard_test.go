package ctxguard

import (
	"context"
	"errors"
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
