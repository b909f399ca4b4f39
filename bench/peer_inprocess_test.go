package bench

import (
	"context"

	"github.com/maypok86/otter/v2"
	"github.com/viccon/sturdyc"
)

// otterStack is raw otter v2, the library strata's L1 is built on: a bounded cache of values as
// they are, with its loader-based Get (one load per key) on a miss.
type otterStack struct {
	c      *otter.Cache[string, Record]
	loader otter.Loader[string, Record]
}

func newOtter(src source) *otterStack {
	return &otterStack{
		c: otter.Must(&otter.Options[string, Record]{
			MaximumSize:      l1Entries,
			ExpiryCalculator: otter.ExpiryWriting[string, Record](ttl),
		}),
		loader: otter.LoaderFunc[string, Record](src),
	}
}

// load is GetIfPresent, the floor of an in-process hit, falling back to Get with the loader.
func (o *otterStack) load(ctx context.Context, key string) (Record, error) {
	if v, ok := o.c.GetIfPresent(key); ok {
		return v, nil
	}
	return o.c.Get(ctx, key, o.loader)
}

func (o *otterStack) set(_ context.Context, key string, v Record) error {
	o.c.Set(key, v)
	return nil
}

func (o *otterStack) close() { o.c.StopAllGoroutines() }

// sturdycStack is sturdyc v1.1.5 as its README builds it (capacity, 10 shards, TTL, 10 %
// evicted when full), read with GetOrFetch. It has no Redis tier of its own.
type sturdycStack struct {
	c   *sturdyc.Client[Record]
	src source
}

func newSturdyc(src source) *sturdycStack {
	return &sturdycStack{c: sturdyc.New[Record](l1Entries, 10, ttl, 10), src: src}
}

func (s *sturdycStack) load(ctx context.Context, key string) (Record, error) {
	return s.c.GetOrFetch(ctx, key, func(ctx context.Context) (Record, error) { return s.src(ctx, key) })
}

func (s *sturdycStack) set(_ context.Context, key string, v Record) error {
	s.c.Set(key, v)
	return nil
}

// close does nothing: sturdyc's eviction goroutine cannot be stopped.
func (s *sturdycStack) close() {}
