package decorate

import "sync/atomic"

// Stats counts what a wrapper did beyond the cache's own reads and loads (which the cache's
// tiered.Stats counts).
type Stats struct {
	// Refreshes counts background refreshes started ahead of expiry; RefreshFailures those whose
	// source call failed.
	Refreshes, RefreshFailures uint64
	// Reloads counts source calls for entries past their TTL but kept for StaleIfError.
	Reloads uint64
	// StaleIfError counts reads answered with an expired value because the source failed (or
	// failed less than its backoff ago).
	StaleIfError uint64
	// BatchLoads counts the source calls of a Batch; BatchLoadedIDs the IDs they asked for.
	BatchLoads, BatchLoadedIDs uint64
	// BatchWaitedIDs counts IDs a batch did not load because another batch was loading them.
	BatchWaitedIDs uint64
}

type counters struct {
	refreshes, refreshFailures, reloads, staleIfError atomic.Uint64
	batchLoads, batchLoadedIDs, batchWaitedIDs        atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Refreshes:       c.refreshes.Load(),
		RefreshFailures: c.refreshFailures.Load(),
		Reloads:         c.reloads.Load(),
		StaleIfError:    c.staleIfError.Load(),
		BatchLoads:      c.batchLoads.Load(),
		BatchLoadedIDs:  c.batchLoadedIDs.Load(),
		BatchWaitedIDs:  c.batchWaitedIDs.Load(),
	}
}
