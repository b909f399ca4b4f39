// Package loadwait lets tests wait until calls are blocked waiting on a coalesced read or load of
// a tiered.Cache. The cache's counters only count a coalesced call once it has its result, so a
// test that must hold a load until a second caller has joined it has nothing else to wait on.
package loadwait

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// waitFrame is the frame of a caller blocked in the select of tiered's flight, waiting for the
// result of a walk or load (its own detached one, or one another caller started).
const waitFrame = "github.com/stratacache/strata/tiered.(*flight).do("

// Blocked returns the number of goroutines blocked waiting on a walk or load of a tiered.Cache:
// every caller coalesced onto another's load, and a leader whose load runs on its own goroutine
// (one with a cancellable context).
func Blocked() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		header, rest, ok := bytes.Cut(g, []byte("\n"))
		if !ok || !bytes.Contains(header, []byte(" [select")) {
			continue
		}
		if bytes.HasPrefix(rest, []byte(waitFrame)) {
			count++
		}
	}
	return count
}

// Wait polls until at least n goroutines are blocked as [Blocked] counts them, and fails the test
// after ten seconds.
func Wait(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for Blocked() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting on a cache load after 10s, want %d", Blocked(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
