package tiertest

import (
	"errors"
	"testing"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

var redisCaps = Caps{BatchGet: true, BatchSet: true, PatternDelete: true, TagIndex: true}

// TestRedis runs the suite against a single redis-server of its own (it pauses it).
func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	Run(t, Harness{
		New: func(t *testing.T) tiered.Backend {
			b, err := redistier.New(srv.Client(t), redistier.Options{})
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
		StallsReads: true,
		Caps:        redisCaps,
	})
}

// TestRedisCluster runs the suite against a Redis Cluster of three masters.
func TestRedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t)
	Run(t, Harness{
		New: func(t *testing.T) tiered.Backend {
			b, err := redistier.New(cluster.Client(t), redistier.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Stall: func(t *testing.T) func() {
			for _, n := range cluster.Nodes {
				if err := n.Pause(); err != nil {
					t.Fatal(err)
				}
			}
			return func() {
				var errs []error
				for _, n := range cluster.Nodes {
					errs = append(errs, n.Resume())
				}
				if err := errors.Join(errs...); err != nil {
					t.Error(err)
				}
			}
		},
		StallsReads: true,
		Caps:        redisCaps,
	})
}
