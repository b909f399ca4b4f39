package decorate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratacache/strata/tiered"
)

// Batched is a cached form of a func(context.Context, []ID) (map[ID]T, error), built by [Batch].
// Its Call method has the wrapped function's signature. It is safe for concurrent use.
type Batched[ID comparable, T any] struct {
	e   *engine[T]
	enc keyEncoder[ID]
	fn  func(context.Context, []ID) (map[ID]T, error)
}

// errAbsent marks an ID its source did not return.
var errAbsent = errors.New("decorate: absent")

// Batch wraps a function that loads many values by ID at once. Each ID is cached under its own
// key (o.Name and the ID, as for [Func]; o.KeyFunc, when set, must be a func(ID) string).
//
// A call looks every ID up through the tiers — L1 for all of them, then one multi-key read per
// byte tier for those still missing (one MGET per Redis node, slot-aware in a Cluster) — calls fn
// once with only the IDs missing everywhere, and writes what fn returned back in one batch per
// byte tier (one Redis pipeline). IDs fn did not return are cached as "not found" when the
// strategy has a NegativeTTL. Overlapping calls never load the same ID twice at once: an ID that
// another call is loading is waited for, not loaded again.
//
// RefreshAhead and StaleIfError do not apply to batches and are refused.
func Batch[ID comparable, T any](c *tiered.Cache, fn func(context.Context, []ID) (map[ID]T, error), o Options) (*Batched[ID, T], error) {
	if fn == nil {
		return nil, ErrNilFunc
	}
	if o.RefreshAhead != 0 || o.StaleIfError != 0 {
		return nil, fmt.Errorf("%w: RefreshAhead and StaleIfError do not apply to Batch", ErrInvalidOptions)
	}
	e, err := newEngine[T](c, &o)
	if err != nil {
		return nil, err
	}
	enc, err := newKeyEncoder[ID](o.Name, o.KeyFunc)
	if err != nil {
		return nil, fmt.Errorf("decorate: %s: %w", o.Name, err)
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
	for i, id := range uniq {
		keys[i] = b.enc.key(id)
	}
	entries, err := tiered.GetMany[T](ctx, b.e.c, keys)
	if err != nil {
		return nil, err
	}
	type pending struct {
		id   ID
		call *flightCall[T]
	}
	var (
		waits    []pending
		ownIDs   []ID
		ownKeys  []string
		ownCalls []*flightCall[T]
		waited   int
	)
	for i, en := range entries {
		switch {
		case en.Found:
			out[uniq[i]] = en.Value
		case en.Negative:
		default:
			call, owner := b.e.flight.claim(keys[i])
			waits = append(waits, pending{uniq[i], call})
			if !owner {
				waited++
				continue
			}
			// Another call may have loaded and stored this ID, and left the flight, since the
			// lookup above: L1 has it then.
			if v, info, ok := tiered.Peek[T](b.e.c, keys[i]); ok && info.Fresh(time.Now().UnixNano()) {
				if info.Negative {
					b.e.flight.release(keys[i], call, v, errAbsent)
				} else {
					b.e.flight.release(keys[i], call, v, nil)
				}
				continue
			}
			ownIDs, ownKeys, ownCalls = append(ownIDs, uniq[i]), append(ownKeys, keys[i]), append(ownCalls, call)
		}
	}
	if len(waits) == 0 {
		return out, nil
	}
	b.e.stats.batchWaitedIDs.Add(uint64(waited))
	if len(ownIDs) > 0 {
		base := context.WithoutCancel(ctx)
		load := func() {
			lctx, cancel := context.WithTimeout(base, b.e.timeout)
			defer cancel()
			b.load(lctx, ownIDs, ownKeys, ownCalls)
		}
		if !b.e.c.Background(load) {
			b.e.flight.releaseMany(ownKeys, ownCalls, func(int) (T, error) {
				var zero T
				return zero, tiered.ErrClosed
			})
		}
	}
	for _, w := range waits {
		v, err := w.call.wait(ctx)
		switch {
		case err == nil:
			out[w.id] = v
		case errors.Is(err, errAbsent):
		default:
			return nil, err
		}
	}
	return out, nil
}

// load calls the source for the IDs this call owns, stores the results and hands them to every
// call waiting for them.
func (b *Batched[ID, T]) load(ctx context.Context, ids []ID, keys []string, calls []*flightCall[T]) {
	b.e.stats.batchLoads.Add(1)
	b.e.stats.batchLoadedIDs.Add(uint64(len(ids)))
	got, err := callSafely(ctx, func(ctx context.Context) (map[ID]T, error) { return b.fn(ctx, ids) })
	if err != nil && b.e.isNotFound(err) {
		got, err = nil, nil // nothing of the batch exists
	}
	if err != nil {
		b.e.flight.releaseMany(keys, calls, func(int) (T, error) {
			var zero T
			return zero, err
		})
		return
	}
	values := make([]tiered.BatchValue, 0, len(ids))
	for i, id := range ids {
		if v, ok := got[id]; ok {
			values = append(values, tiered.BatchValue{Key: keys[i], Value: v})
		} else if b.e.strategy.NegativeTTL > 0 {
			values = append(values, tiered.BatchValue{Key: keys[i], NotFound: true})
		}
	}
	if serr := b.e.c.SetMany(ctx, values, b.e.strategy); serr != nil {
		b.e.log.Warn("strata/decorate: batch not fully stored", "wrapper", b.e.name, "error", serr)
	}
	b.e.flight.releaseMany(keys, calls, func(i int) (T, error) {
		if v, ok := got[ids[i]]; ok {
			return v, nil
		}
		var zero T
		return zero, errAbsent
	})
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

// Stats returns the wrapper's counters.
func (b *Batched[ID, T]) Stats() Stats { return b.e.stats.snapshot() }
