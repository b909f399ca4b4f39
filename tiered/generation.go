package tiered

import (
	"hash/maphash"
	"sync/atomic"
)

// generations lets a load notice that its key was invalidated while it ran. Every removal or
// update of a key bumps the key's stripe (pattern, tag-wide and full clears bump every stripe);
// a load reads the generation before it walks the tiers and calls the loader, and stores or
// promotes what it found only if the generation is unchanged — otherwise the value it holds may
// predate the invalidation and would bring it back. Stripes are shared by keys (a bump costs
// unrelated keys at most one skipped store), so the memory is fixed.
type generations struct {
	seed    maphash.Seed
	all     atomic.Uint64
	stripes [256]atomic.Uint64
}

func (g *generations) init() { g.seed = maphash.MakeSeed() }

func (g *generations) stripe(key string) *atomic.Uint64 {
	return &g.stripes[maphash.String(g.seed, key)&255]
}

// of returns key's current generation.
func (g *generations) of(key string) uint64 { return g.all.Load() + g.stripe(key).Load() }

// bump marks keys as changed.
func (g *generations) bump(keys ...string) {
	for _, k := range keys {
		g.stripe(k).Add(1)
	}
}

// bumpAll marks every key as changed.
func (g *generations) bumpAll() { g.all.Add(1) }
