package disktier_test

import (
	"testing"

	"github.com/stratacache/strata/internal/tiertest"
	"github.com/stratacache/strata/tiered"
	disktier "github.com/stratacache/strata/tiered/disk"
)

// TestAcceptance runs the backend acceptance suite against the disk tier, unguarded (its writes
// return when their context ends) and Guarded (every call does). Its stall holds every write
// before it is committed (a Pebble write stall, forced); in the Guarded runs it holds every read
// too (a device that stopped answering, which only the guard releases callers from).
func TestAcceptance(t *testing.T) {
	for _, guarded := range []bool{false, true} {
		name := "direct"
		if guarded {
			name = "guarded"
		}
		t.Run(name, func(t *testing.T) {
			tiertest.Run(t, tiertest.Harness{
				New: func(t *testing.T) tiered.Backend {
					b, _ := open(t, disktier.Options{Guarded: guarded})
					return b
				},
				Stall: func(t *testing.T) func() {
					release := make(chan struct{})
					restoreCommit := disktier.SetCommitHook(func() { <-release })
					restoreRead := func() {}
					if guarded {
						restoreRead = disktier.SetReadHook(func() { <-release })
					}
					return func() {
						restoreCommit()
						restoreRead()
						close(release)
					}
				},
				StallsReads: guarded,
				Caps:        tiertest.Caps{BatchGet: true, BatchSet: true, PatternDelete: true, Clear: true},
			})
		})
	}
}
