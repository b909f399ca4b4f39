// Package tiered is the core of strata: a cache made of ordered tiers — an in-process L1 that holds
// decoded values, then shared tiers such as Redis that hold encoded entries — with stampede-protected
// loads, exact statistics and fail-open resilience.
//
// A Cache is built with [New]. With no tiers it is a single in-process L1 backed by otter (the
// embedded default); with tiers it reads them in order, promotes a hit found below L1 into the tiers
// above with the entry's exact remaining TTL, and writes every tier on Set.
//
// The typed entry points are the generic functions [Load] and [Get]; the methods on [Cache] offer
// the same operations for values of dynamic type.
//
// # Sharing
//
// Values handed out by an L1 hit are shared with every other caller that reads the same key: callers
// must treat them as read-only. Store values (structs, strings, numbers), or pointers you never
// mutate after storing.
//
// # Consistency
//
// Each process coalesces concurrent misses for one key into a single tier walk and a single load.
// Other processes share the remote tiers but each holds its own L1; without an invalidation bus an
// L1 entry can therefore be stale for at most its TTL after another process changed the value.
// With Options.Bus the processes tell each other about every Invalidate, Update, InvalidatePattern,
// InvalidateTags and InvalidateAll over Redis Pub/Sub; [BusOptions] documents the bound that then
// applies.
package tiered
