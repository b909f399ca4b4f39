package disktier_test

import (
	"testing"

	"github.com/stratacache/strata/internal/tiertest"
	"github.com/stratacache/strata/tiered"
	disktier "github.com/stratacache/strata/tiered/disk"
)

// TestAcceptance runs the backend acceptance suite against the disk tier, called directly by the
// cache (its writes honour their context) and guarded by the cache (a goroutine per call). Its
// stall holds every write before it is committed (a Pebble write stall, forced); reads wait only
// for the device.
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
					restore := disktier.SetCommitHook(func() { <-release })
					return func() {
						restore()
						close(release)
					}
				},
				Caps: tiertest.Caps{BatchGet: true, BatchSet: true, PatternDelete: true, Clear: true},
			})
		})
	}
}
