// Package loadwait lets tests wait until calls are blocked waiting on a coalesced read or load of
// a tiered.Cache (or on any other single-flight call of strata's). The cache's counters only
// count a coalesced call once it has its result, so a test that must hold a load until a second
// caller has joined it has nothing else to wait on.
package loadwait

import (
	"testing"
	"time"

	"github.com/stratacache/strata/internal/flight"
)

// Blocked returns the number of goroutines blocked waiting for the result of a single-flight
// call: every caller coalesced onto another's walk or load, and a leader whose load runs on its
// own goroutine (one with a cancellable context).
func Blocked() int { return flight.Waiting() }

// Wait polls until at least n goroutines are blocked as [Blocked] counts them, and fails the test
// after ten seconds.
func Wait(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for Blocked() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting on a cache load after 10s, want %d", Blocked(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
