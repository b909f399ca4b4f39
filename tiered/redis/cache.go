package redistier

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// DefaultL1MaxBytes bounds the in-process tier that NewCache builds: 256 MiB of entries, each
// weighed by its encoded size.
const DefaultL1MaxBytes = 256 << 20

// NewCache builds the common case in one call: an otter L1 bounded to DefaultL1MaxBytes over a
// Redis tier on client, with the invalidation bus over Redis Pub/Sub on the channel
// o.Namespace + DefaultBusChannel, so that every instance sharing the Redis keeps its L1
// coherent.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	cache, err := redistier.NewCache(rdb, tiered.Options{Namespace: "myapp:"})
//	...
//	defer rdb.Close()   // yours
//	defer cache.Close() // closes the L1 it built, stops its bus subscription
//
// The other fields of o apply as they would to tiered.New (Namespace, DefaultStrategy, Codec,
// Observer, Logger, Breaker, BusOptions...). o.Tiers must be empty: NewCache builds them. A nil
// o.Bus means the Redis bus; set it to use another. The cache's Close closes what NewCache built;
// client stays the caller's, to close after the cache. Give the client ContextTimeoutEnabled (see
// the package doc).
func NewCache(client redis.UniversalClient, o tiered.Options) (*tiered.Cache, error) {
	if len(o.Tiers) != 0 {
		return nil, fmt.Errorf("%w: NewCache builds the tiers; build the cache with tiered.New to choose them", tiered.ErrInvalidOptions)
	}
	l2, err := New(client, Options{})
	if err != nil {
		return nil, err
	}
	if o.Bus == nil {
		if o.Bus, err = NewBus(client, BusOptions{Channel: o.Namespace + DefaultBusChannel}); err != nil {
			return nil, err
		}
	}
	l1, err := ottertier.New(ottertier.Options{MaxBytes: DefaultL1MaxBytes})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tiered.ErrInvalidOptions, err)
	}
	o.Tiers = []tiered.Tier{{Backend: l1, Owned: true}, {Backend: l2}}
	c, err := tiered.New(o)
	if err != nil {
		l1.Close()
		return nil, err
	}
	return c, nil
}
