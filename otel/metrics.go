package stratotel

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/stratacache/strata/tiered"
)

func metricScopeVersion() metric.MeterOption { return metric.WithInstrumentationVersion(Version) }

// durationBuckets are the histogram boundaries, in seconds, from 50 µs to 10 s: cache operations
// live below a millisecond when Redis answers, loads and timeouts above.
var durationBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

const (
	numOps      = 9 // tiered.Op values, 0 included
	numOutcomes = 5 // tiered.Outcome values
)

// instruments holds the observer's instruments and the measurement options of the common cases,
// built once so that recording them allocates nothing.
type instruments struct {
	meter metric.Meter

	opDuration   metric.Float64Histogram
	tierDuration metric.Float64Histogram
	loads        metric.Int64Counter
	loadDuration metric.Float64Histogram
	inflight     metric.Int64UpDownCounter
	transitions  metric.Int64Counter
	evictions    metric.Int64Counter
	leases       metric.Int64Counter

	requests     metric.Int64ObservableCounter
	staleHits    metric.Int64ObservableCounter
	negativeHits metric.Int64ObservableCounter
	promotions   metric.Int64ObservableCounter
	tierErrors   metric.Int64ObservableCounter
	tierSkipped  metric.Int64ObservableCounter
	dropped      metric.Int64ObservableCounter
	corrupt      metric.Int64ObservableCounter
	breakerState metric.Int64ObservableUpDownCounter

	invalidations metric.Int64ObservableCounter
	busDrops      metric.Int64ObservableCounter
	resubscribes  metric.Int64ObservableCounter
	subscribed    metric.Int64ObservableUpDownCounter
	l1Clears      metric.Int64ObservableCounter
	tagOverflow   metric.Int64ObservableCounter

	opOK [numOps][numOutcomes][]metric.RecordOption

	mu    sync.RWMutex
	tiers map[tierKey][]metric.RecordOption
}

type tierKey struct {
	level int
	name  string
	call  tiered.TierCall
}

func newInstruments(meter metric.Meter) (*instruments, error) {
	m := &instruments{meter: meter, tiers: make(map[tierKey][]metric.RecordOption)}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		check(err)
		return h
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return c
	}
	var err error
	m.opDuration = hist("strata.cache.operation.duration", "Duration of cache operations that went past the in-process L1 fast path.")
	m.tierDuration = hist("strata.cache.tier.duration", "Duration of calls to remote cache tiers.")
	m.loadDuration = hist("strata.cache.load.duration", "Duration of loader calls.")
	m.loads, err = meter.Int64Counter("strata.cache.loads", metric.WithUnit("{load}"), metric.WithDescription("Loader calls."))
	check(err)
	m.inflight, err = meter.Int64UpDownCounter("strata.cache.loads.inflight", metric.WithUnit("{load}"), metric.WithDescription("Loader calls running now."))
	check(err)
	m.transitions, err = meter.Int64Counter("strata.cache.breaker.transitions", metric.WithUnit("{transition}"), metric.WithDescription("Changes of a remote tier's circuit breaker, by the state entered."))
	check(err)
	m.evictions, err = meter.Int64Counter("strata.cache.evictions", metric.WithUnit("{entry}"), metric.WithDescription("Entries evicted from an in-process tier to respect its bound."))
	check(err)
	m.leases, err = meter.Int64Counter("strata.cache.leases", metric.WithUnit("{key}"), metric.WithDescription("Lease outcomes of loads across instances, by event (taken, waited, timed_out, lost, skipped)."))
	check(err)

	m.requests = counter("strata.cache.requests", "{request}", "Cache reads, by the tier that answered or as a miss or a coalesced wait.")
	m.staleHits = counter("strata.cache.hits.stale", "{hit}", "Hits on stale entries served while they were refreshed.")
	m.negativeHits = counter("strata.cache.hits.negative", "{hit}", "Hits on cached \"not found\" results.")
	m.promotions = counter("strata.cache.promotions", "{entry}", "Copies of lower-tier hits into a tier.")
	m.tierErrors = counter("strata.cache.tier.errors", "{call}", "Failed calls to a remote tier, timeouts included.")
	m.tierSkipped = counter("strata.cache.tier.skipped", "{call}", "Calls to a remote tier skipped because its circuit breaker was open.")
	m.dropped = counter("strata.cache.tier.writes.dropped", "{write}", "Writes a tier did not store because it failed or its breaker was open.")
	m.corrupt = counter("strata.cache.entries.corrupt", "{entry}", "Stored entries that could not be decoded (treated as misses and deleted).")
	m.breakerState, err = meter.Int64ObservableUpDownCounter("strata.cache.breaker.state", metric.WithUnit("{breaker}"),
		metric.WithDescription("State of a remote tier's circuit breaker: 1 for the current state, 0 for the others."))
	check(err)
	m.invalidations = counter("strata.cache.invalidations", "{invalidation}", "Invalidations by strata.invalidation.event: calls made here, bus messages sent, received, applied, failed, malformed or own echoes.")
	m.busDrops = counter("strata.cache.bus.drops", "{drop}", "Detected losses of the invalidation bus subscription.")
	m.resubscribes = counter("strata.cache.bus.resubscribes", "{resubscription}", "Invalidation bus subscriptions confirmed again after a loss.")
	m.subscribed, err = meter.Int64ObservableUpDownCounter("strata.cache.bus.subscribed", metric.WithUnit("{subscription}"),
		metric.WithDescription("1 while the invalidation bus is subscribed, 0 while it is not."))
	check(err)
	m.l1Clears = counter("strata.cache.l1.clears", "{clear}", "Times the in-process tiers were emptied: InvalidateAll, a clear from another instance, a lost bus subscription.")
	m.tagOverflow = counter("strata.cache.tags.overflow", "{entry}", "Entries dropped from the in-process tiers because the in-process tag index was full.")
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for op := 1; op < numOps; op++ {
		for oc := 0; oc < numOutcomes; oc++ {
			attrs := []attribute.KeyValue{AttrOperation.String(tiered.Op(op).String())}
			if oc != int(tiered.OutcomeNone) {
				attrs = append(attrs, AttrResult.String(tiered.Outcome(oc).String()))
			}
			m.opOK[op][oc] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
		}
	}
	return m, nil
}

func (m *instruments) recordOp(ctx context.Context, op tiered.Op, r tiered.OpResult) {
	secs := r.Duration.Seconds()
	if r.Err == nil || isNotFound(r.Err) {
		if int(op) < numOps && int(r.Outcome) < numOutcomes {
			m.opDuration.Record(ctx, secs, m.opOK[op][r.Outcome]...)
			return
		}
	}
	attrs := []attribute.KeyValue{AttrOperation.String(op.String())}
	if r.Outcome != tiered.OutcomeNone {
		attrs = append(attrs, AttrResult.String(r.Outcome.String()))
	}
	if r.Err != nil && !isNotFound(r.Err) {
		attrs = append(attrs, AttrErrorType.String(errorType(r.Err)))
	}
	m.opDuration.Record(ctx, secs, metric.WithAttributes(attrs...))
}

func (m *instruments) recordTier(ctx context.Context, t tiered.TierInfo, call tiered.TierCall, r tiered.TierResult) {
	secs := r.Duration.Seconds()
	if r.Err != nil {
		et := errorType(r.Err)
		if r.Timeout {
			et = "timeout"
		}
		m.tierDuration.Record(ctx, secs, metric.WithAttributes(AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level)),
			AttrTierCall.String(call.String()), AttrErrorType.String(et)))
		return
	}
	k := tierKey{level: t.Level, name: t.Name, call: call}
	m.mu.RLock()
	opts, ok := m.tiers[k]
	m.mu.RUnlock()
	if !ok {
		opts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level)), AttrTierCall.String(call.String())))}
		m.mu.Lock()
		m.tiers[k] = opts
		m.mu.Unlock()
	}
	m.tierDuration.Record(ctx, secs, opts...)
}

func (m *instruments) loadStarted(ctx context.Context) {
	m.inflight.Add(ctx, 1)
}

func (m *instruments) loadEnded(ctx context.Context, err error, d time.Duration) {
	m.inflight.Add(ctx, -1)
	if err == nil || isNotFound(err) {
		m.loads.Add(ctx, 1)
		m.loadDuration.Record(ctx, d.Seconds())
		return
	}
	set := attribute.NewSet(AttrErrorType.String(errorType(err)))
	m.loads.Add(ctx, 1, metric.WithAttributeSet(set))
	m.loadDuration.Record(ctx, d.Seconds(), metric.WithAttributeSet(set))
}

func (m *instruments) leaseEvent(ctx context.Context, t tiered.TierInfo, event string) {
	m.leases.Add(ctx, 1, metric.WithAttributes(AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level)), AttrLeaseEvent.String(event)))
}

func (m *instruments) breakerChanged(t tiered.TierInfo, open bool) {
	state := tiered.BreakerClosed
	if open {
		state = tiered.BreakerOpen
	}
	m.transitions.Add(context.Background(), 1, metric.WithAttributes(
		AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level)), AttrBreakerState.String(breakerStateName(state))))
}

// ObserveCache registers c's counters with the observer's meter: the strata.cache.requests,
// hits, promotions, tier error, breaker state, invalidation and bus metrics are then read from
// c.Stats() each time metrics are collected, at no cost to the cache's operations. Call
// Unregister on the result before closing c. Caches observed through one meter provider are told
// apart by their tiers' names only: give the tiers of different caches distinct names (ottertier
// and redistier Options.Name) when both are observed, and know that the metrics without a tier
// attribute (misses, coalesced reads, invalidations, the bus) then report the same series for
// each; observe one cache per meter provider (or per resource) to keep them apart.
func (o *Observer) ObserveCache(c *tiered.Cache) (metric.Registration, error) {
	if c == nil {
		return nil, errors.New("stratotel: ObserveCache of a nil cache")
	}
	m := o.m
	return m.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		s := c.Stats()
		ob.ObserveInt64(m.requests, int64(s.Misses), metric.WithAttributes(AttrResult.String("miss")))
		ob.ObserveInt64(m.requests, int64(s.Coalesced), metric.WithAttributes(AttrResult.String(resultCoalesced)))
		ob.ObserveInt64(m.staleHits, int64(s.StaleServes))
		ob.ObserveInt64(m.negativeHits, int64(s.NegativeHits))
		for _, t := range s.Tiers {
			name, lvl := AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level))
			ob.ObserveInt64(m.requests, int64(t.Hits), metric.WithAttributes(AttrResult.String("hit"), name, lvl))
			ob.ObserveInt64(m.promotions, int64(t.Promotions), metric.WithAttributes(name, lvl))
			ob.ObserveInt64(m.corrupt, int64(t.Corrupt), metric.WithAttributes(name, lvl))
			if t.Level == 0 {
				continue // the in-process L1 makes no remote calls and has no breaker
			}
			ob.ObserveInt64(m.tierErrors, int64(t.Timeouts), metric.WithAttributes(name, lvl, AttrErrorType.String("timeout")))
			ob.ObserveInt64(m.tierErrors, int64(t.Errors-t.Timeouts), metric.WithAttributes(name, lvl, AttrErrorType.String("_OTHER")))
			ob.ObserveInt64(m.tierSkipped, int64(t.Skipped), metric.WithAttributes(name, lvl))
			ob.ObserveInt64(m.dropped, int64(t.DroppedWrites), metric.WithAttributes(name, lvl))
			for st := tiered.BreakerClosed; st <= tiered.BreakerHalfOpen; st++ {
				v := int64(0)
				if t.Breaker == st {
					v = 1
				}
				ob.ObserveInt64(m.breakerState, v, metric.WithAttributes(name, lvl, AttrBreakerState.String(breakerStateName(st))))
			}
		}
		m.observeInvalidation(ob, &s)
		return nil
	}, m.requests, m.staleHits, m.negativeHits, m.promotions, m.tierErrors, m.tierSkipped, m.dropped, m.corrupt, m.breakerState,
		m.invalidations, m.busDrops, m.resubscribes, m.subscribed, m.l1Clears, m.tagOverflow)
}

// Values of AttrInvalidationEvent, with the attribute sets that carry them.
var (
	invLocal     = metric.WithAttributeSet(attribute.NewSet(AttrInvalidationEvent.String("local")))
	invSent      = metric.WithAttributeSet(attribute.NewSet(AttrInvalidationEvent.String("sent")))
	invReceived  = metric.WithAttributeSet(attribute.NewSet(AttrInvalidationEvent.String("received")))
	invApplied   = metric.WithAttributeSet(attribute.NewSet(AttrInvalidationEvent.String("applied")))
	invFailed    = metric.WithAttributeSet(attribute.NewSet(AttrInvalidationEvent.String("failed")))
	invMalformed = metric.WithAttributeSet(attribute.NewSet(AttrInvalidationEvent.String("malformed")))
	invOwnEcho   = metric.WithAttributeSet(attribute.NewSet(AttrInvalidationEvent.String("own_echo")))
)

// observeInvalidation reports the invalidation counters of a cache. The bus's counters are
// reported only for a cache with a bus (which has an instance id).
func (m *instruments) observeInvalidation(ob metric.Observer, st *tiered.Stats) {
	s := &st.Invalidation
	ob.ObserveInt64(m.invalidations, int64(st.Invalidations), invLocal)
	ob.ObserveInt64(m.l1Clears, int64(s.L1Clears))
	ob.ObserveInt64(m.tagOverflow, int64(s.TagOverflow))
	if s.InstanceID == "" {
		return
	}
	ob.ObserveInt64(m.invalidations, int64(s.Sent), invSent)
	ob.ObserveInt64(m.invalidations, int64(s.Received), invReceived)
	ob.ObserveInt64(m.invalidations, int64(s.Applied), invApplied)
	ob.ObserveInt64(m.invalidations, int64(s.Failed), invFailed)
	ob.ObserveInt64(m.invalidations, int64(s.Malformed), invMalformed)
	ob.ObserveInt64(m.invalidations, int64(s.EchoesSkipped), invOwnEcho)
	ob.ObserveInt64(m.busDrops, int64(s.Drops))
	ob.ObserveInt64(m.resubscribes, int64(s.Resubscribes))
	sub := int64(0)
	if s.Subscribed {
		sub = 1
	}
	ob.ObserveInt64(m.subscribed, sub)
}
