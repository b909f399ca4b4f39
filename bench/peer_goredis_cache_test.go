package bench

import (
	"context"

	"github.com/go-redis/cache/v9"
)

// goredisCache is go-redis/cache v9: msgpack + s2 above 64 bytes, its TinyLFU local cache of
// encoded bytes (decoded on every hit), singleflight in Once.
type goredisCache struct {
	c      *cache.Cache
	prefix string
	src    source
}

func newGoredisCache(s setup) *goredisCache {
	o := &cache.Options{}
	if s.rdb != nil {
		o.Redis = s.rdb // left a nil interface otherwise: a nil *redis.Client would not be
	}
	if s.l1 {
		o.LocalCache = cache.NewTinyLFU(l1Entries, ttl)
	}
	return &goredisCache{c: cache.New(o), prefix: s.prefix, src: s.src}
}

func (g *goredisCache) load(ctx context.Context, key string) (Record, error) {
	var v Record
	err := g.c.Once(&cache.Item{
		Ctx:   ctx,
		Key:   g.prefix + key,
		Value: &v,
		TTL:   ttl,
		Do:    func(it *cache.Item) (any, error) { return g.src(it.Context(), key) },
	})
	return v, err
}

func (g *goredisCache) set(ctx context.Context, key string, v Record) error {
	return g.c.Set(&cache.Item{Ctx: ctx, Key: g.prefix + key, Value: v, TTL: ttl})
}

func (g *goredisCache) close() {}
