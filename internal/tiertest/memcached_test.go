package tiertest

import (
	"testing"
	"time"

	"github.com/stratacache/strata/internal/memcachedtest"
	"github.com/stratacache/strata/tiered"
	memcachedtier "github.com/stratacache/strata/tiered/memcached"
)

// TestMemcached runs the suite against a memcached of its own (it pauses it), with the cache
// calling the tier on a goroutine per call (the default) and directly (TrustClientTimeout).
func TestMemcached(t *testing.T) {
	t.Run("guarded", func(t *testing.T) { runMemcached(t, memcachedtier.Options{}) })
	t.Run("trust-client-timeout", func(t *testing.T) { runMemcached(t, memcachedtier.Options{TrustClientTimeout: true}) })
}

func runMemcached(t *testing.T, o memcachedtier.Options) {
	srv := memcachedtest.Start(t)
	Run(t, Harness{
		New: func(t *testing.T) tiered.Backend {
			c := srv.Client(t)
			c.Timeout = 500 * time.Millisecond
			b, err := memcachedtier.New(c, o)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Stall: func(t *testing.T) func() {
			if err := srv.Pause(); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := srv.Resume(); err != nil {
					t.Error(err)
				}
			}
		},
		StallsReads:   true,
		TTLResolution: time.Second,
		Caps:          Caps{BatchGet: true, BatchSet: true},
	})
}
