package tiertest

import (
	"testing"
	"time"

	"github.com/stratacache/strata/internal/memcachedtest"
	"github.com/stratacache/strata/tiered"
	memcachedtier "github.com/stratacache/strata/tiered/memcached"
)

// TestMemcached runs the suite against a memcached of its own (it pauses it), with the tier
// running each client call on a goroutine of its own (the default) and calling the client
// directly (TrustClientTimeout). The guarded tier returns at its context's deadline, long before
// the client's Timeout; the trusting one at the client's Timeout, which is then no longer than
// the tier's, as its documentation asks.
func TestMemcached(t *testing.T) {
	t.Run("guarded", func(t *testing.T) {
		runMemcached(t, memcachedtier.Options{}, 5*time.Second, 0)
	})
	t.Run("trust-client-timeout", func(t *testing.T) {
		runMemcached(t, memcachedtier.Options{TrustClientTimeout: true}, time.Second, time.Second)
	})
}

func runMemcached(t *testing.T, o memcachedtier.Options, clientTimeout, tierTimeout time.Duration) {
	srv := memcachedtest.Start(t)
	Run(t, Harness{
		New: func(t *testing.T) tiered.Backend {
			c := srv.Client(t)
			c.Timeout = clientTimeout
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
		Timeout:       tierTimeout,
		Caps:          Caps{BatchGet: true, BatchSet: true},
	})
}
