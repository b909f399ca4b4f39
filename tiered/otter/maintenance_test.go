package ottertier

import (
	"fmt"
	"testing"
	"time"
)

func TestMaintenanceRunsSparseRequestsInline(t *testing.T) {
	m := &maintenance{gap: time.Nanosecond, base: time.Now()}
	for i := range 3 {
		ran := false
		time.Sleep(time.Millisecond)
		m.run(func() { ran = true })
		if !ran {
			t.Fatalf("request %d did not run on the caller's goroutine", i)
		}
	}
}

func TestMaintenanceHandsDenseRequestsToAGoroutine(t *testing.T) {
	m := &maintenance{gap: time.Hour, base: time.Now()}
	m.run(func() {}) // the first request comes within the gap of base: a goroutine runs it
	release, done := make(chan struct{}), make(chan struct{})
	returned := make(chan struct{})
	go func() {
		m.run(func() { <-release; close(done) }) // blocks the caller if run inline
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("a dense request ran on the caller's goroutine")
	}
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the task handed to a goroutine never ran")
	}
}

// TestBoundHeldWhereverMaintenanceRuns runs a read-heavy workload with maintenance always inline
// and always on goroutines: inline maintenance runs under otter's eviction lock, so a task that
// needed a lock its caller holds would hang here; and the bound must hold either way.
func TestBoundHeldWhereverMaintenanceRuns(t *testing.T) {
	for name, gap := range map[string]time.Duration{"inline": 0, "goroutines": time.Hour} {
		t.Run(name, func(t *testing.T) {
			b, err := build(Options{MaxEntries: 100}, &maintenance{gap: gap, base: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for i := range 2000 {
				b.Set(fmt.Sprint("k", i), i, time.Minute)
				for range 20 {
					b.Get(fmt.Sprint("k", i/2))
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for b.Len() > 100 && time.Now().Before(deadline) {
				b.Get("k0") // a read asks for maintenance a burst left pending
				time.Sleep(time.Millisecond)
			}
			if n := b.Len(); n > 100 {
				t.Fatalf("%d entries, bound 100", n)
			}
		})
	}
}
