package disktier_test

import (
	"testing"

	"github.com/stratacache/strata/internal/tiertest"
	"github.com/stratacache/strata/tiered"
	disktier "github.com/stratacache/strata/tiered/disk"
)

// TestAcceptance runs the backend acceptance suite against the disk tier. Its stall holds every
// write before it is committed (a Pebble write stall, forced); reads wait only for the device.
func TestAcceptance(t *testing.T) {
	tiertest.Run(t, tiertest.Harness{
		New: func(t *testing.T) tiered.Backend {
			b, _ := open(t, disktier.Options{})
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
}
