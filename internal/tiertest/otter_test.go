package tiertest

import (
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

func TestOtter(t *testing.T) {
	Run(t, Harness{
		New: func(t *testing.T) tiered.Backend {
			b, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			return b
		},
		TTLResolution: time.Second,
	})
}
