// Package stratotel instruments a strata cache with OpenTelemetry: a span per cache operation with
// the tier walk inside it, and metrics per tier. The folder is otel; the package is named stratotel
// so it does not clash with go.opentelemetry.io/otel.
//
// Install it through the cache's observer hook, and register the cache's counters:
//
//	obs, err := stratotel.New() // global tracer and meter providers
//	if err != nil { ... }
//	cache, err := tiered.New(tiered.Options{Tiers: tiers, Observer: obs})
//	if err != nil { ... }
//	reg, err := obs.ObserveCache(cache)
//	if err != nil { ... }
//	defer reg.Unregister()
//
// # Spans
//
// Every public operation of the cache gets one INTERNAL span, named after it: strata.get,
// strata.load, strata.set, strata.delete, strata.invalidate, strata.update, strata.refresh (the
// background reload of a stale entry), and strata.get_many and strata.set_many for the batch calls
// of decorate.Batch, with the number of keys (strata.batch.keys) and of keys found
// (strata.batch.found) as attributes. Inside it, each call to a remote tier is a CLIENT span named
// strata.tier.get, strata.tier.set or strata.tier.delete, and the loader runs inside a strata.loader
// span, so the spans of the loader's own work (a database query, say) nest under it. The in-process
// L1 gets no span of its own — one would cost far more than the lookup — its result is the
// strata.l1.result attribute of the operation's span.
//
// A caller that waited on another caller's walk or load (strata.coalesced = true) gets a span link
// to the leader's span. A tier skipped because its circuit breaker is open shows up as a
// strata.tier.skipped event on the operation's span. Errors set the span status and error.type;
// "not found" results of loaders are outcomes, not errors.
//
// The spans are created under the span found in the caller's context, so they nest inside the
// request spans of otelhttp, otelgrpc and the like. They are created only when that span is
// recording — a live span of a sampled trace, as those request spans are — which is what a
// parent-based sampler would decide: an operation called outside a sampled trace costs one
// context lookup and starts no span. (A bare remote span context, extracted from a request's
// headers without a local span started under it, does not count. The parts of a traced operation —
// its tier calls, its loader, the background refresh it started — are traced even when they
// outlive the operation's span, as a detached load does when the caller that started it gives up.)
// [WithRootSpans] also traces operations called without any span in their context.
//
// The decorate package's wrappers read through the same cache: a call they answer from L1 is a
// strata.load span with strata.result = hit (or negative) and no key hash, since their fast path
// reports no key; any other call is the strata.load span of the load, with the wrapped function
// running inside strata.loader.
//
// Span attributes live under the strata. prefix; see the Attr constants. Raw keys never appear in
// span names or attributes; [WithKeyHash] adds a hash of the key, on request.
//
// # Metrics
//
// Instruments are created from the meter named [ScopeName]. Durations are in seconds.
//
// Recorded by the hook as operations run (none of them on the L1 fast path):
//
//   - strata.cache.operation.duration (histogram, s): operations that went past the L1 fast path,
//     by strata.operation, strata.result and error.type. Reads answered by L1 straight away are
//     counted in strata.cache.requests and not timed: they take well under a microsecond.
//   - strata.cache.tier.duration (histogram, s): calls to remote tiers, by strata.tier.name,
//     strata.tier.level, strata.tier.call and error.type.
//   - strata.cache.loads (counter) and strata.cache.load.duration (histogram, s): loader calls, by
//     error.type when they failed.
//   - strata.cache.loads.inflight (updowncounter): loader calls running now.
//   - strata.cache.breaker.transitions (counter): breaker changes, by tier and strata.breaker.state.
//
// Read from the cache's own counters at collection time, once [Observer.ObserveCache] registered
// the cache (they cost the hot path nothing, and agree with [tiered.Cache.Stats] exactly):
//
//   - strata.cache.requests (counter): reads by strata.result — hit (with the tier that answered),
//     miss, or coalesced (the read waited on another read of the same key).
//   - strata.cache.hits.stale and strata.cache.hits.negative (counters): hits on stale entries
//     served while refreshed, and on cached "not found" results (both included in the hits).
//   - strata.cache.promotions (counter): copies of lower-tier hits into a tier, by tier.
//   - strata.cache.tier.errors (counter): failed remote tier calls, by tier and error.type
//     (timeout, or _OTHER for the rest); strata.cache.tier.skipped (counter): calls skipped by an open breaker;
//     strata.cache.tier.writes.dropped (counter): writes a tier did not store;
//     strata.cache.entries.corrupt (counter): undecodable entries found (and deleted).
//   - strata.cache.breaker.state (updowncounter): 1 for the current state of each remote tier's
//     breaker, 0 for the others, by strata.breaker.state.
//   - strata.cache.invalidations (counter): by strata.invalidation.event — local (invalidation
//     calls made on this cache), and with a bus sent, received, applied, failed, malformed and
//     own_echo (see [AttrInvalidationEvent]).
//   - strata.cache.bus.drops and strata.cache.bus.resubscribes (counters): losses of the bus
//     subscription and the confirmations that followed; strata.cache.bus.subscribed
//     (updowncounter): 1 while the bus is subscribed. Reported for a cache with a bus only.
//   - strata.cache.l1.clears (counter): times the in-process tiers were emptied (InvalidateAll, a
//     clear from another instance, a lost bus subscription); strata.cache.tags.overflow (counter):
//     entries dropped from them because the in-process tag index was full.
//
// L1 evictions are counted as strata.cache.evictions through otter's stats recorder: pass
// [Observer.EvictionRecorder] as ottertier.Options.StatsRecorder.
//
// # Cost
//
// With no providers installed (the OpenTelemetry no-op default) the hook does next to nothing. With
// an SDK tracer provider, an L1 hit inside an unsampled request neither starts a span nor allocates:
// it costs one context lookup to learn that the trace is not sampled. No metric is recorded on the
// L1 fast path (its counts come from the cache's counters at collection time), and the metrics of
// slower paths use attribute sets built once. An L1 hit inside a sampled request records a span,
// which costs about as much as a few hundred nanoseconds and a few allocations.
package stratotel
