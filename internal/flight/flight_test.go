package flight

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

func TestJoinSharesOneCall(t *testing.T) {
	var g Group[string, int]
	c, leader := g.Join(context.Background(), "k")
	if !leader {
		t.Fatal("first Join is not the leader")
	}
	const waiters = 8
	var wg sync.WaitGroup
	results := make(chan int, waiters)
	for range waiters {
		w, lead := g.Join(context.Background(), "k")
		if lead || w != c {
			t.Fatal("a second Join started another call")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := w.Wait(context.Background())
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	g.Run("k", c, func() (int, error) { return 42, nil })
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Fatalf("waiter got %d", v)
		}
	}
	if g.Len() != 0 {
		t.Fatalf("%d calls left", g.Len())
	}
	if _, lead := g.Join(context.Background(), "k"); !lead {
		t.Fatal("the key is not free after the call")
	}
}

func TestWaitFollowsItsContext(t *testing.T) {
	var g Group[string, int]
	c, _ := g.Join(context.Background(), "k")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
	g.Finish("k", c, 1, nil)
	if v, err := c.Wait(ctx); err != nil || v != 1 {
		t.Fatalf("Wait after the call finished: %d, %v (a finished call answers whatever the context)", v, err)
	}
}

func TestPanicReachesEveryWaiter(t *testing.T) {
	var g Group[string, int]
	c, _ := g.Join(context.Background(), "k")
	w, _ := g.Join(context.Background(), "k")
	g.Run("k", c, func() (int, error) { panic("boom") })
	_, err := w.Wait(context.Background())
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || !errors.Is(err, ErrPanic) || len(pe.Stack) == 0 {
		t.Fatalf("waiter got %v", err)
	}
	if g.Len() != 0 {
		t.Fatal("a panicking call wedged its key")
	}
}

func TestPanicWithErrorUnwraps(t *testing.T) {
	sentinel := errors.New("inner")
	_, err := Safely(func() (int, error) { panic(sentinel) }, nil)
	if !errors.Is(err, sentinel) || !errors.Is(err, ErrPanic) {
		t.Fatalf("got %v", err)
	}
}

func TestGoexitReachesEveryWaiter(t *testing.T) {
	var g Group[string, int]
	c, _ := g.Join(context.Background(), "k")
	w, _ := g.Join(context.Background(), "k")
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Run("k", c, func() (int, error) {
			runtime.Goexit()
			return 0, nil
		})
		t.Error("Run returned after runtime.Goexit")
	}()
	<-done
	if _, err := w.Wait(context.Background()); !errors.Is(err, ErrGoexit) {
		t.Fatalf("waiter got %v, want ErrGoexit", err)
	}
	if g.Len() != 0 {
		t.Fatal("a Goexit wedged its key")
	}
}

func TestFinishFirstWins(t *testing.T) {
	var g Group[string, int]
	c, _ := g.Join(context.Background(), "k")
	if !g.Finish("k", c, 1, nil) {
		t.Fatal("first Finish did not count")
	}
	if g.Finish("k", c, 2, nil) {
		t.Fatal("second Finish counted")
	}
	if v, _ := c.Result(); v != 1 {
		t.Fatalf("result %d, want the first", v)
	}
	// An early Finish frees the key while the leader keeps working: a new Join leads a new call.
	if c2, lead := g.Join(context.Background(), "k"); !lead || c2 == c {
		t.Fatal("key not free after an early Finish")
	}
}

func TestFinishAll(t *testing.T) {
	var g Group[string, int]
	keys := []string{"a", "b", "c"}
	calls := make([]*Call[int], len(keys))
	for i, k := range keys {
		calls[i], _ = g.Join(context.Background(), k)
	}
	g.Finish("b", calls[1], -1, nil) // already finished: FinishAll leaves it as it is
	g.FinishAll(keys, calls, func(i int) (int, error) { return i * 10, nil })
	for i, c := range calls {
		v, _ := c.Result()
		want := i * 10
		if i == 1 {
			want = -1
		}
		if v != want {
			t.Fatalf("call %d: %d, want %d", i, v, want)
		}
	}
	if g.Len() != 0 {
		t.Fatal("calls left")
	}
}

func TestLeaderContextAndLookup(t *testing.T) {
	var g Group[string, int]
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "leader")
	if g.Lookup("k") != nil {
		t.Fatal("Lookup found a call in an empty group")
	}
	c, _ := g.Join(ctx, "k")
	if g.Lookup("k") != c || c.Leader().Value(ctxKey{}) != "leader" {
		t.Fatal("Lookup or Leader wrong")
	}
	g.Finish("k", c, 0, nil)
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed")
	}
}
