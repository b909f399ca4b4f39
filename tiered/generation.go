package tiered

import (
	"slices"
	"sync"
	"sync/atomic"
)

// generations are what make every write that follows a source call or a read conditional: a
// load, a refresh, a stale-if-error reload, a batch load and a promotion read their key's
// generation before they look at the tiers, and store what they got only if it is unchanged.
// Every change of a key — Set, Update, Invalidate, and their pattern, tag and clear forms, local
// or received over the bus — moves it.
//
// A change runs under its keys' stripe locks (a pattern or a clear under the lock of every key)
// and moves the generation twice, before and after it touches the tiers; a conditional write
// checks the generation and writes under the shared side of the same locks. So once a change has
// returned, no write that began before it (or during it) can land in any tier of this cache: it
// either finished before the change took its locks — and the change then overwrote or removed
// it — or it sees the moved generation and writes nothing.
//
// Stripes are shared by keys (a change costs unrelated keys of its stripe at most one skipped
// store), so the memory is fixed.
type generations struct {
	all     atomic.Uint64
	stripes [stripeCount]atomic.Uint64
	allMu   sync.RWMutex
	mus     [stripeCount]sync.RWMutex
}

const stripeCount = 256

func (g *generations) init() {}

// stripe returns key's stripe: FNV-1a of the key, folded.
func (g *generations) stripe(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int((h ^ h>>16) & (stripeCount - 1))
}

// of returns key's current generation.
func (g *generations) of(key string) uint64 {
	return g.all.Load() + g.stripes[g.stripe(key)].Load()
}

// stripesOf returns the distinct stripes of keys, ascending (the lock order).
func (g *generations) stripesOf(keys []string) []int {
	s := make([]int, len(keys))
	for i, k := range keys {
		s[i] = g.stripe(k)
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// change runs fn as a change of keys.
func (g *generations) change(keys []string, fn func()) {
	st := g.stripesOf(keys)
	g.allMu.RLock()
	for _, i := range st {
		g.mus[i].Lock()
	}
	defer func() {
		for _, i := range st {
			g.stripes[i].Add(1)
			g.mus[i].Unlock()
		}
		g.allMu.RUnlock()
	}()
	for _, i := range st {
		g.stripes[i].Add(1)
	}
	fn()
}

// changeAll runs fn as a change of every key.
func (g *generations) changeAll(fn func()) {
	g.allMu.Lock()
	defer func() {
		g.all.Add(1)
		g.allMu.Unlock()
	}()
	g.all.Add(1)
	fn()
}

// commit runs fn, a write of key, if key's generation is still gen; it reports whether it did.
func (g *generations) commit(key string, gen uint64, fn func()) bool {
	i := g.stripe(key)
	g.allMu.RLock()
	g.mus[i].RLock()
	defer func() {
		g.mus[i].RUnlock()
		g.allMu.RUnlock()
	}()
	if g.of(key) != gen {
		return false
	}
	fn()
	return true
}

// commitMany runs fn, a write of those keys whose generation is still gens[i]: ok[i] tells fn
// which. fn is not called when none is.
func (g *generations) commitMany(keys []string, gens []uint64, fn func(ok []bool)) {
	st := g.stripesOf(keys)
	g.allMu.RLock()
	for _, i := range st {
		g.mus[i].RLock()
	}
	defer func() {
		for _, i := range st {
			g.mus[i].RUnlock()
		}
		g.allMu.RUnlock()
	}()
	ok := make([]bool, len(keys))
	any := false
	for j, k := range keys {
		ok[j] = g.of(k) == gens[j]
		any = any || ok[j]
	}
	if any {
		fn(ok)
	}
}
