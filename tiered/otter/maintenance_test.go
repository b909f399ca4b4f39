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

// TestBoundHeldUnderSparseAndDenseReads checks that eviction keeps the bound whichever way
// maintenance runs.
func TestBoundHeldUnderSparseAndDenseReads(t *testing.T) {
	for _, dense := range []bool{false, true} {
		t.Run(fmt.Sprint("dense=", dense), func(t *testing.T) {
			b, err := New(Options{MaxEntries: 100})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for i := range 2000 {
				b.Set(fmt.Sprint("k", i), i, time.Minute)
				for range 20 {
					b.Get(fmt.Sprint("k", i/2))
				}
				if !dense && i%100 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for b.Len() > 100 && time.Now().Before(deadline) {
				b.Get("k0") // a read asks for the maintenance a dense burst left pending
				time.Sleep(time.Millisecond)
			}
			if n := b.Len(); n > 100 {
				t.Fatalf("%d entries, bound 100", n)
			}
		})
	}
}
