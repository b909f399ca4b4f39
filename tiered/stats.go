package tiered

import (
	"sync/atomic"
	"unsafe"
)

// Stats is a snapshot of a cache's counters. Every read request is counted exactly once, as a hit
// of the tier that answered it, as a miss, or as coalesced (it waited on another request's walk or
// load), so Requests == sum of Tiers[i].Hits + Misses + Coalesced.
type Stats struct {
	// Requests counts reads: Get, Load, Lookup hits and the keys of GetMany and LoadMany.
	Requests uint64
	// Hits counts reads answered by a tier (fresh, stale, stale-if-error or negative), all tiers
	// together.
	Hits uint64
	// Misses counts reads that no tier could answer.
	Misses uint64
	// Coalesced counts reads that waited on another read of the same key.
	Coalesced uint64
	// HitRate is Hits / Requests (0 when there were none).
	HitRate float64
	// NegativeHits counts hits on a cached "not found" (included in Hits).
	NegativeHits uint64
	// StaleServes counts reads answered with a stale entry while it was refreshed, and
	// StaleIfErrorServes reads answered with an entry kept for stale-if-error because its load
	// failed or backs off. Both count every read so answered: hits, and reads coalesced onto one.
	StaleServes, StaleIfErrorServes uint64
	// TypeMismatches counts reads that found the key holding a value of another Go type (a miss
	// for them).
	TypeMismatches uint64
	// Promotions counts copies of a hit into the tiers above it, all tiers together.
	Promotions uint64
	// Loads counts loader calls, refreshes included; LoadErrors those that failed (including
	// panics).
	Loads, LoadErrors uint64
	// Refreshes counts background refreshes (refresh-ahead and serve-stale); RefreshFailures
	// those whose load failed.
	Refreshes, RefreshFailures uint64
	// Superseded counts values a load, refresh or promotion did not store because their key
	// changed meanwhile.
	Superseded uint64
	// InFlight is the number of walks, loads and refreshes running now.
	InFlight int
	// Sets counts written entries (Set, Update, SetMany); Invalidations counts Invalidate,
	// InvalidatePattern, InvalidateTags and InvalidateAll calls.
	Sets, Invalidations uint64
	// Corrupt counts stored entries that could not be decoded (or were written in an older
	// format); they were treated as misses and deleted.
	Corrupt uint64
	// LeasesTaken counts keys whose lease a load took (it then called the loader); LeaseWaits
	// keys whose load was answered by the value another instance stored under its lease;
	// LeaseTimeouts keys whose wait reached Options.LeaseWait; LeasesLost holders' writes refused
	// because their lease had expired; LeasesSkipped keys loaded without a lease because the
	// lease tier failed. See Options.Leases.
	LeasesTaken, LeaseWaits, LeaseTimeouts, LeasesLost, LeasesSkipped uint64
	// Tiers holds the counters of each tier, L1 first.
	Tiers []TierStats
	// Invalidation counts invalidations sent, received, applied and failed, and the life of the
	// invalidation bus.
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
	// Owed is the number of changes (keys to delete, patterns, tag sets) the tier could not
	// take and has not caught up on yet; it serves no read before it has. Repairs counts the
	// times it caught up, Flushes the times it had missed too many changes and its namespace was
	// flushed instead.
	Owed             int
	Repairs, Flushes uint64
}

// counter is an atomic counter for paths that are never hot enough for contention to matter.
type counter struct{ v atomic.Uint64 }

func (c *counter) inc()         { c.v.Add(1) }
func (c *counter) add(n uint64) { c.v.Add(n) }
func (c *counter) load() uint64 { return c.v.Load() }

// stripedCounter is a counter written on every L1 hit. Its increments go to one of several cells,
// each on its own cache lines, picked by the calling goroutine's stack address: goroutines that
// run at the same time have different stacks and so mostly write different cells, and readers on
// different cores never fight over one cache line. Reading it sums the cells.
type stripedCounter struct {
	cells [counterStripes]paddedCounter
}

const counterStripes = 16

type paddedCounter struct {
	atomic.Uint64
	_ [120]byte // 128 bytes per cell: two cache lines, which adjacent-line prefetch pairs
}

func (s *stripedCounter) inc() { s.cells[stackStripe()].Add(1) }

func (s *stripedCounter) load() uint64 {
	var n uint64
	for i := range s.cells {
		n += s.cells[i].Load()
	}
	return n
}

// stackStripe picks a cell for the calling goroutine from the address of its stack. The low 11
// bits follow the call depth rather than the goroutine (stacks are at least 2 KiB) and are
// dropped; a multiplicative hash then folds the goroutine-specific upper bits into the index.
func stackStripe() int {
	var x byte
	a := uint64(uintptr(unsafe.Pointer(&x))) >> 11
	return int((a * 0x9e3779b97f4a7c15) >> (64 - 4))
}

type tierCounters struct {
	hits                                                    stripedCounter
	promotions, errors, timeouts, dropped, skipped, corrupt counter
}

type counters struct {
	negative                                      stripedCounter
	misses, coalesced, stale, staleIfError        counter
	typeMismatches, promotions, loads, loadErrors counter
	refreshes, refreshFailures, superseded        counter
	sets, invalidations, corrupt                  counter
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Misses:             c.ctr.misses.load(),
		Coalesced:          c.ctr.coalesced.load(),
		NegativeHits:       c.ctr.negative.load(),
		StaleServes:        c.ctr.stale.load(),
		StaleIfErrorServes: c.ctr.staleIfError.load(),
		TypeMismatches:     c.ctr.typeMismatches.load(),
		Promotions:         c.ctr.promotions.load(),
		Loads:              c.ctr.loads.load(),
		LoadErrors:         c.ctr.loadErrors.load(),
		Refreshes:          c.ctr.refreshes.load(),
		RefreshFailures:    c.ctr.refreshFailures.load(),
		Superseded:         c.ctr.superseded.load(),
		Sets:               c.ctr.sets.load(),
		Invalidations:      c.ctr.invalidations.load(),
		Corrupt:            c.ctr.corrupt.load(),
		LeasesTaken:        c.lease.taken.load(),
		LeaseWaits:         c.lease.waited.load(),
		LeaseTimeouts:      c.lease.timedOut.load(),
		LeasesLost:         c.lease.lost.load(),
		LeasesSkipped:      c.lease.skipped.load(),
		InFlight:           c.walks.Len() + c.loads.Len() + c.refreshes.Len(),
		Tiers:              make([]TierStats, len(c.tiers)),
		Invalidation:       c.invalidationStats(),
	}
	for i, t := range c.tiers {
		ts := TierStats{
			Level:         i,
			Name:          t.name,
			Hits:          t.ctr.hits.load(),
			Promotions:    t.ctr.promotions.load(),
			Errors:        t.ctr.errors.load(),
			Timeouts:      t.ctr.timeouts.load(),
			DroppedWrites: t.ctr.dropped.load(),
			Skipped:       t.ctr.skipped.load(),
			Corrupt:       t.ctr.corrupt.load(),
		}
		if t.bb != nil {
			ts.Breaker = t.br.current()
			ts.Owed = t.owed.size()
			ts.Repairs = t.owed.repaired.load()
			ts.Flushes = t.owed.flushes.load()
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
