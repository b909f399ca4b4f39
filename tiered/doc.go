// Package tiered is the core of strata: a cache made of ordered tiers — an in-process L1 that holds
// decoded values, then shared tiers such as Redis that hold encoded entries — with
// stampede-protected loads, exact statistics and fail-open resilience. It is the one engine every
// adapter of strata (decorate, the HTTP, Echo and gRPC middleware) goes through, so its guarantees
// hold for all of them.
//
// A Cache is built with [New]. With no tiers it is a single in-process L1 backed by otter (the
// embedded default); with tiers it reads them in order, promotes a hit found below L1 into the tiers
// above with the entry's exact remaining lifetime, and writes every tier on Set.
//
// The entry points are the generic functions [Load], [Get], [LoadMany], [GetMany] and [Lookup], and
// the write and invalidation methods of [Cache]. A [Strategy] is the whole freshness policy of an
// entry — TTL, jitter, refresh-ahead, serve-stale-while-refresh, stale-if-error, negative caching —
// applied by the cache for every caller.
//
// # Guarantees
//
// What holds once a call returns:
//
//   - Set, SetMany, Update, Invalidate, InvalidatePattern, InvalidateTags and InvalidateAll are
//     changes of their keys: no load, refresh, stale-if-error reload, batch load, negative entry
//     or promotion that started before (or during) the change stores anything afterwards, in any
//     tier of this cache. A source call that an invalidation overtakes serves its callers and
//     writes nothing. With a bus, the same holds for changes made on other instances from the
//     moment their message arrives.
//   - With a bus, every other instance drops (or, for Update, replaces) its in-process copy; the
//     staleness bound while the bus is down is documented on [BusOptions].
//   - A reader of another Go type than the writer's gets a miss (ErrTypeMismatch from Get),
//     counted in Stats.TypeMismatches — never a zero-valued hit — and never deletes or overwrites
//     the other type's shared entry. Entries carry a fingerprint of their type's exported shape
//     and of the codec, so a struct that changed between versions of a service counts as another
//     type. To keep both versions warm during a rolling deploy, give the new shape its own keys:
//     a versioned Options.Namespace ("app:v2:") or decorate wrapper Name ("users.byID.v2").
//   - However many goroutines miss one key at once, the tiers are walked once and the loader is
//     called once; each waiter follows its own context, and the load survives the first caller's
//     cancellation. A panic or runtime.Goexit in a loader reaches every waiter as an error and
//     never wedges the key.
//   - With leases (Options.Leases, Strategy.WithLease) and a shared tier that implements
//     [Leaser] (Redis), the same holds across the instances of a fleet: however many instances
//     miss a key at once, one calls the loader (per key for [LoadMany]) while its lease lives;
//     the others serve what it stores. Its write is fenced by its lease, so a holder whose lease
//     expired never stores over a newer value; a holder that dies costs the others one
//     Options.LeaseTTL, one that fails releases the lease at once, and no waiter waits longer
//     than Options.LeaseWait before it loads itself. A failing lease tier skips leases.
//   - Reads walk the tiers on the caller's goroutine: a read that a tier answers starts no
//     goroutine, whatever its context. Only a load (and the write after it) is detached, on a
//     goroutine that Close waits for.
//   - A corrupt or foreign entry in a byte tier, or one written in an older format, is a miss: it
//     is deleted and counted (Stats.Corrupt), never a panic or an error for the caller.
//   - A failing byte tier is skipped under its Timeout and circuit breaker, and the caller gets its
//     value (or a clear error with Options.FailClosed). A breaker acts only on results of calls
//     admitted in its current state.
//   - After a change returns nil, no tier of this cache and no instance serves an older value
//     beyond the staleness bound of [BusOptions]. A change a byte tier could not take returns an
//     error wrapping [ErrTierUnavailable] (see Faults).
//
// # Faults
//
// A change (Set, SetMany, Update, Invalidate, InvalidatePattern, InvalidateTags, InvalidateAll)
// that a byte tier cannot take — the call fails or times out, or the tier's breaker is open —
// leaves that tier possibly holding an older value. The cache then does both of these:
//
//   - the call returns an error wrapping ErrTierUnavailable, fail-open or not (the change is in
//     the other tiers), because other instances read that tier and this one cannot vouch for it;
//   - the tier owes the change: its keys (to delete — a write it missed is owed as a delete of
//     the key), patterns or tags wait in a small per-tier outbox (TierStats.Owed), and every call
//     to the tier applies them first, the breaker's half-open probe included, so the tier serves
//     this cache nothing before it has caught up. A background task probes the tier as soon as
//     its breaker allows, so the debt is paid within one Breaker.Cooldown of the tier answering
//     again, whether or not the cache is in use. While one caller applies the debt, the others
//     skip the tier at once.
//
// The outbox keeps 10,000 keys and 64 patterns or tag sets. Past that the tier is lost rather
// than trusted: before it serves again every key of the Namespace is deleted from it
// (TierStats.Flushes); a tier that cannot be flushed (no Namespace, no pattern delete) is
// bypassed until the cache is closed. The outbox lives in the process: a change that returned
// ErrTierUnavailable and an instance that stops before the tier answers again leave the older
// value to its lifetime, which is why the caller is told.
//
// Nothing waits on a frozen Redis longer than its budget: every tier call runs under its Timeout,
// publishes under BusOptions.PublishTimeout, and both under circuit breakers, so that once a
// breaker is open changes return at once (with ErrTierUnavailable and ErrBroadcast); New waits
// at most BusOptions.StartTimeout for the bus (not at all when it is negative), and Close's bound
// is documented on [Cache.Close].
//
// # Sharing
//
// Values handed out by an L1 hit are shared with every other caller that reads the same key: callers
// must treat them as read-only. Store values (structs, strings, numbers), or pointers you never
// mutate after storing.
//
// # Coherence across instances
//
// Each process holds its own L1; without an invalidation bus an L1 entry can therefore be stale for
// at most its lifetime after another process changed the value. With Options.Bus (Redis Pub/Sub:
// redistier.NewBus; NATS) the processes tell each other about every change.
//
// # For users of the Rust crate multi_tier_cache
//
// strata answers the crate's CacheManager. Its operations map to these:
//
//	multi_tier_cache                        strata
//	get_or_compute_typed(key, strategy, f)  tiered.Load[T](ctx, c, key, strategy, f)
//	get(key)                                tiered.Get[T](ctx, c, key)
//	set_with_strategy(key, v, strategy)     c.Set(ctx, key, v, strategy)
//	update_cache(key, v, strategy)          c.Update(ctx, key, v, strategy)
//	set_with_broadcast(key, v, strategy)    c.Update(ctx, key, v, strategy): every tier here, the value to every instance
//	invalidate(key)                         c.Invalidate(ctx, keys...)
//	invalidate_pattern(pattern)             c.InvalidatePattern(ctx, pattern)
//	publish_to_stream(stream, fields)       redistier.Backend.Publish(ctx, stream, fields, maxLen)
//	read_stream_latest(stream, n)           redistier.Backend.ReadLatest(ctx, stream, n)
//	read_stream(stream, last_id, n, block)  redistier.Backend.Read(ctx, stream, lastID, n, block)
//	CacheStrategy::RealTime … LongTerm      tiered.RealTime, ShortTerm, MediumTerm, LongTerm, Default, Custom(d)
//	get_stats()                             c.Stats()
//
// Tags (tiered.Tags, c.InvalidateTags), c.InvalidateAll, batches (tiered.GetMany, tiered.LoadMany,
// c.SetMany), refresh-ahead, stale-if-error and negative caching in the Strategy, and the type
// fingerprint have no counterpart there.
package tiered
