package tiered

import "sync/atomic"

// Stats is a snapshot of a cache's counters. Every read request is counted exactly once, as a hit
// of the tier that answered it, as a miss, or as coalesced (it waited on another request's walk or
// load), so Requests == sum of Tiers[i].Hits + Misses + Coalesced.
type Stats struct {
	// Requests counts reads: Get, GetOrLoad and Load calls.
	Requests uint64
	// Hits counts reads answered by a tier (fresh, stale or negative), all tiers together.
	Hits uint64
	// Misses counts reads that no tier could answer.
	Misses uint64
	// Coalesced counts reads that waited on another read of the same key.
	Coalesced uint64
	// HitRate is Hits / Requests (0 when there were none).
	HitRate float64
	// NegativeHits counts hits on a cached "not found" (included in Hits).
	NegativeHits uint64
	// StaleServes counts hits on a stale entry served while it was refreshed (included in Hits).
	StaleServes uint64
	// Promotions counts copies of a hit into the tiers above it, all tiers together.
	Promotions uint64
	// Loads counts loader calls; LoadErrors those that failed (including panics).
	Loads, LoadErrors uint64
	// InFlight is the number of walks and loads running now.
	InFlight int
	// Sets and Deletes count write operations.
	Sets, Deletes uint64
	// Corrupt counts stored entries that could not be decoded; they were treated as misses and
	// deleted.
	Corrupt uint64
	// Tiers holds the counters of each tier, L1 first.
	Tiers []TierStats
	// Invalidation counts invalidations sent, received, applied and failed, and the life of the
	// invalidation bus; the same as [Cache.InvalidationStats].
	Invalidation InvalidationStats
}

// TierStats holds the counters of one tier.
type TierStats struct {
	Level int
	Name  string
	// Hits counts reads this tier answered.
	Hits uint64
	// Promotions counts hits from lower tiers copied into this tier.
	Promotions uint64
	// Errors counts failed calls (timeouts included); Timeouts those that ran out of time.
	Errors, Timeouts uint64
	// DroppedWrites counts writes not stored because the tier failed or its breaker was open.
	DroppedWrites uint64
	// Skipped counts calls not made because the breaker was open.
	Skipped uint64
	// Corrupt counts undecodable entries found in this tier.
	Corrupt uint64
	// Breaker is the breaker's state now (always closed for value tiers).
	Breaker BreakerState
}

type tierCounters struct {
	hits, promotions, errors, timeouts, dropped, skipped, corrupt atomic.Uint64
}

type counters struct {
	misses, coalesced, negative, stale, promotions atomic.Uint64
	loads, loadErrors, sets, deletes, corrupt      atomic.Uint64
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Misses:       c.ctr.misses.Load(),
		Coalesced:    c.ctr.coalesced.Load(),
		NegativeHits: c.ctr.negative.Load(),
		StaleServes:  c.ctr.stale.Load(),
		Promotions:   c.ctr.promotions.Load(),
		Loads:        c.ctr.loads.Load(),
		LoadErrors:   c.ctr.loadErrors.Load(),
		Sets:         c.ctr.sets.Load(),
		Deletes:      c.ctr.deletes.Load(),
		Corrupt:      c.ctr.corrupt.Load(),
		InFlight:     c.walks.running() + c.loads.running(),
		Tiers:        make([]TierStats, len(c.tiers)),
		Invalidation: c.InvalidationStats(),
	}
	for i, t := range c.tiers {
		ts := TierStats{
			Level:         i,
			Name:          t.name,
			Hits:          t.ctr.hits.Load(),
			Promotions:    t.ctr.promotions.Load(),
			Errors:        t.ctr.errors.Load(),
			Timeouts:      t.ctr.timeouts.Load(),
			DroppedWrites: t.ctr.dropped.Load(),
			Skipped:       t.ctr.skipped.Load(),
			Corrupt:       t.ctr.corrupt.Load(),
		}
		if t.bb != nil {
			ts.Breaker = t.br.current()
		}
		s.Tiers[i] = ts
		s.Hits += ts.Hits
	}
	s.Requests = s.Hits + s.Misses + s.Coalesced
	if s.Requests > 0 {
		s.HitRate = float64(s.Hits) / float64(s.Requests)
	}
	return s
}
