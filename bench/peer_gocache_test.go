package bench

import (
	"context"
	"fmt"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/marshaler"
	"github.com/eko/gocache/lib/v4/store"
	redisstore "github.com/eko/gocache/store/redis/v4"
	ristrettostore "github.com/eko/gocache/store/ristretto/v4"
	"github.com/vmihailenco/msgpack/v5"
)

// newRistretto returns a ristretto cache that keeps l1Entries entries of cost 1: ristretto's
// internal cost per entry is ignored, or it would keep about 175.
func newRistretto[V any]() (*ristretto.Cache[string, V], error) {
	return ristretto.NewCache(&ristretto.Config[string, V]{
		NumCounters:        10 * l1Entries, // ristretto's advice: 10× the entries kept
		MaxCost:            l1Entries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
}

// gocacheStack is eko/gocache's "all together" shape: marshaler (msgpack) over a loadable cache
// (singleflight) over a chain of ristretto and Redis; without an L1 the loadable wraps the Redis
// cache alone, as in its loadable example.
type gocacheStack struct {
	m        *marshaler.Marshaler
	loadable *cache.LoadableCache[any]
	chain    *cache.ChainCache[any]
	rist     *ristretto.Cache[string, any]
	prefix   string
}

func newGocache(s setup) (*gocacheStack, error) {
	g := &gocacheStack{prefix: s.prefix}
	var layers []cache.SetterCacheInterface[any]
	if s.l1 {
		r, err := newRistretto[any]()
		if err != nil {
			return nil, err
		}
		g.rist = r
		layers = append(layers, cache.New[any](ristrettostore.NewRistretto(r, store.WithCost(1), store.WithExpiration(ttl))))
	}
	if s.rdb != nil {
		layers = append(layers, cache.New[any](redisstore.NewRedis(s.rdb, store.WithExpiration(ttl))))
	}
	var inner cache.CacheInterface[any]
	switch len(layers) {
	case 0:
		return nil, fmt.Errorf("gocache: no tier")
	case 1:
		inner = layers[0]
	default:
		g.chain = cache.NewChain(layers...)
		inner = g.chain
	}
	// The marshaler on top decodes what the loadable returns, so the load function returns
	// msgpack bytes, and the tiers store those.
	load := func(ctx context.Context, k any) (any, []store.Option, error) {
		v, err := s.src(ctx, k.(string)[len(g.prefix):])
		if err != nil {
			return nil, nil, err
		}
		b, err := msgpack.Marshal(v)
		return b, []store.Option{store.WithExpiration(ttl)}, err
	}
	g.loadable = cache.NewLoadable(load, inner)
	g.m = marshaler.New(g.loadable)
	return g, nil
}

func (g *gocacheStack) load(ctx context.Context, key string) (Record, error) {
	var v Record
	_, err := g.m.Get(ctx, g.prefix+key, &v)
	return v, err
}

func (g *gocacheStack) set(ctx context.Context, key string, v Record) error {
	err := g.m.Set(ctx, g.prefix+key, v, store.WithExpiration(ttl))
	if g.rist != nil {
		g.rist.Wait() // ristretto applies writes asynchronously
	}
	return err
}

func (g *gocacheStack) close() {
	_ = g.loadable.Close()
	if g.chain != nil {
		_ = g.chain.Close()
	}
	if g.rist != nil {
		g.rist.Close()
	}
}

// gocacheLocal is eko/gocache's in-process cache alone: a typed cache over the ristretto store,
// holding values as they are (no encoding).
type gocacheLocal struct {
	c    *cache.Cache[Record]
	rist *ristretto.Cache[string, Record]
	src  source
}

func newGocacheLocal(src source) (*gocacheLocal, error) {
	r, err := newRistretto[Record]()
	if err != nil {
		return nil, err
	}
	return &gocacheLocal{c: cache.New[Record](ristrettostore.NewRistretto(r, store.WithCost(1), store.WithExpiration(ttl))), rist: r, src: src}, nil
}

// load reads the value and, on a miss, loads and stores it (the typed cache has no loader of its
// own, nor stampede protection).
func (g *gocacheLocal) load(ctx context.Context, key string) (Record, error) {
	v, err := g.c.Get(ctx, key)
	if err == nil {
		return v, nil
	}
	if v, err = g.src(ctx, key); err != nil {
		return v, err
	}
	return v, g.set(ctx, key, v)
}

func (g *gocacheLocal) set(ctx context.Context, key string, v Record) error {
	err := g.c.Set(ctx, key, v)
	g.rist.Wait()
	return err
}

func (g *gocacheLocal) close() { g.rist.Close() }
