package decorate

import (
	"context"
	"fmt"

	"github.com/stratacache/strata/tiered"
)

// Batched is a cached form of a func(context.Context, []ID) (map[ID]T, error), built by [Batch].
// Its Call method has the wrapped function's signature. It is safe for concurrent use.
type Batched[ID comparable, T any] struct {
	e   *engine[T]
	enc keyEncoder[ID]
	fn  func(context.Context, []ID) (map[ID]T, error)
}

// Batch wraps a function that loads many values by ID at once. Each ID is cached under its own
// key (o.Name and the ID, as for [Func]; o.KeyFunc, when set, must be a func(ID) string).
//
// A call looks every ID up through the tiers — L1 for all of them, then one multi-key read per
// byte tier for those still missing (one MGET per Redis node, slot-aware in a Cluster) — calls fn
// once with only the IDs missing everywhere, and writes what fn returned back in one batch per
// byte tier (one Redis pipeline). IDs fn did not return are cached as "not found" when the
// strategy has a NegativeTTL. Overlapping calls never load the same ID twice at once: an ID that
// another call (or a [Func] with the same Name and key) is loading is waited for, not loaded
// again. All of it is tiered.LoadMany's: what the source returns is stored through the cache's
// conditional write path, so an ID invalidated while the source ran is returned but not stored.
//
// A batch serves entries that are fresh (those due for refresh included) and loads the others
// with the rest: it starts no background refresh and serves nothing stale, so the Stale and
// StaleIfError windows of the strategy do not apply to its reads.
func Batch[ID comparable, T any](c *tiered.Cache, fn func(context.Context, []ID) (map[ID]T, error), o Options) (*Batched[ID, T], error) {
	if fn == nil {
		return nil, ErrNilFunc
	}
	e, err := newEngine[T](c, &o)
	if err != nil {
		return nil, err
	}
	enc, err := newKeyEncoder[ID](o.Name, o.KeyFunc)
	if err != nil {
		return nil, fmt.Errorf("%w (wrapper %q)", err, o.Name)
	}
	return &Batched[ID, T]{e: e, enc: enc, fn: fn}, nil
}

// Call returns the values of ids: cached ones from the tiers, the others from one call of the
// wrapped function (shared with concurrent calls that are already loading some of them). IDs
// that do not exist — the source did not return them now or earlier — are absent from the map.
// Duplicate IDs are looked up once.
//
// A failing source call fails the calls that needed its IDs, and nothing of it is cached. The
// returned values are shared with other callers and must not be mutated.
func (b *Batched[ID, T]) Call(ctx context.Context, ids []ID) (map[ID]T, error) {
	out := make(map[ID]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	uniq := make([]ID, 0, len(ids))
	seen := make(map[ID]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			uniq = append(uniq, id)
		}
	}
	keys := make([]string, len(uniq))
	byKey := make(map[string]ID, len(uniq))
	for i, id := range uniq {
		keys[i] = b.enc.key(id)
		byKey[keys[i]] = id
	}
	got, err := tiered.LoadMany(ctx, b.e.c, keys, b.e.strategy, func(ctx context.Context, missing []string) (map[string]T, error) {
		ids := make([]ID, len(missing))
		for i, k := range missing {
			ids[i] = byKey[k]
		}
		m, err := b.fn(ctx, ids)
		if err != nil {
			return nil, b.e.markNotFound(err)
		}
		out := make(map[string]T, len(m))
		for i, id := range ids {
			if v, ok := m[id]; ok {
				out[missing[i]] = v
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, unwrapNotFound(err)
	}
	for k, v := range got {
		out[byKey[k]] = v
	}
	return out, nil
}

// Key returns the cache key of id.
func (b *Batched[ID, T]) Key(id ID) string { return b.enc.key(id) }

// Invalidate removes the cached values of ids from every tier (and, when the cache has an
// invalidation bus, from the other instances).
func (b *Batched[ID, T]) Invalidate(ctx context.Context, ids ...ID) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = b.enc.key(id)
	}
	return b.e.c.Invalidate(ctx, keys...)
}
