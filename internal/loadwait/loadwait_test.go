package loadwait_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stratacache/strata/internal/loadwait"
	"github.com/stratacache/strata/tiered"
)

// TestWait checks that a caller coalesced onto a running load is seen, so that a change in
// tiered's internals makes this test fail rather than the tests that rely on it hang.
func TestWait(t *testing.T) {
	c, err := tiered.New(tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	load := func(context.Context) (int, error) { close(entered); <-release; return 1, nil }
	base := loadwait.Blocked()
	var wg sync.WaitGroup
	// The leader's context cannot be cancelled: its load runs on its own goroutine, blocked in
	// the loader, not waiting.
	wg.Go(func() { _, _ = tiered.Load(context.Background(), c, "k", tiered.ShortTerm, load) })
	<-entered
	if n := loadwait.Blocked() - base; n != 0 {
		t.Fatalf("%d waiters before any caller joined", n)
	}
	wg.Go(func() { _, _ = tiered.Load(context.Background(), c, "k", tiered.ShortTerm, load) })
	loadwait.Wait(t, base+1)
	close(release)
	wg.Wait()
	if s := c.Stats(); s.Coalesced != 1 || s.Loads != 1 {
		t.Fatalf("stats %+v, want one load and one coalesced call", s)
	}
}
