package stratotel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/tiered"
)

// Observer is a [tiered.Observer] that emits OpenTelemetry spans and metrics. Build it with [New]
// and pass it as tiered.Options.Observer; it is safe for concurrent use and may serve several
// caches.
type Observer struct {
	tracer trace.Tracer
	root   bool
	keys   *keyHasher
	m      *instruments

	opStart   []trace.SpanStartOption
	loadStart []trace.SpanStartOption
}

var (
	_ tiered.Observer       = (*Observer)(nil)
	_ tiered.FastPathFilter = (*Observer)(nil)
)

// New builds an Observer. Without options it uses the global tracer and meter providers (the
// no-op ones until the application installs the SDK's with otel.SetTracerProvider and
// otel.SetMeterProvider); [WithTracerProvider] and [WithMeterProvider] name others. It returns an
// error when an option is invalid or an instrument cannot be created.
func New(opts ...Option) (*Observer, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	m, err := newInstruments(cfg.mp.Meter(ScopeName, metricVersion))
	if err != nil {
		return nil, err
	}
	o := &Observer{
		tracer:    cfg.tp.Tracer(ScopeName, traceVersion),
		root:      cfg.root,
		m:         m,
		opStart:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
		loadStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
	}
	if cfg.hashOn {
		o.keys = &keyHasher{secret: cfg.hashKey}
	}
	return o, nil
}

var (
	traceVersion  = trace.WithInstrumentationVersion(Version)
	metricVersion = metricScopeVersion()
)

// spanKind tells the spans the observer attached to a context apart.
type spanKind uint8

const (
	kindOp spanKind = iota + 1
	kindTier
	kindLoad
)

// spanCtx is the context the observer hands back from a Start call when it started a span. The
// cache passes that very context to the matching End call, so a type assertion finds the span
// again: no context lookup, and no confusion with a caller's span when no span was started.
type spanCtx struct {
	context.Context
	span trace.Span
	kind spanKind
}

// spanCtxKey finds the innermost spanCtx of a context derived from one.
type spanCtxKey struct{}

// Value answers spanCtxKey with the spanCtx itself.
func (c *spanCtx) Value(key any) any {
	if key == (spanCtxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func spanOf(ctx context.Context, kind spanKind) trace.Span {
	if s, ok := ctx.(*spanCtx); ok && s.kind == kind {
		return s.span
	}
	return nil
}

// traced reports whether a span should be started under ctx: its span is recording (a live span
// of a sampled trace), or there is no span and root spans were asked for. This is what a
// parent-based sampler would decide for the spans of a live trace, taken before any span (or
// context) is allocated, and at the cost of one context lookup: reading the span's sampled flag
// instead would cost more than twice as much on the L1 fast path.
func (o *Observer) traced(ctx context.Context) bool {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		return true
	}
	return o.root && !span.SpanContext().IsValid()
}

// tracedChild is traced for the parts of an operation (tier calls, the loader, a refresh), which
// may outlive the span they belong to: a detached load goes on after its leader gave up, a refresh
// after the read that found the stale entry. A span the observer started counts even once ended.
// These calls are not on the L1 fast path, so a second context lookup costs nothing that shows.
func (o *Observer) tracedChild(ctx context.Context) bool {
	if o.traced(ctx) {
		return true
	}
	s, _ := ctx.Value(spanCtxKey{}).(*spanCtx)
	return s != nil && s.span == trace.SpanFromContext(ctx)
}

func (o *Observer) start(ctx context.Context, name string, kind spanKind, opts []trace.SpanStartOption) context.Context {
	ctx, span := o.tracer.Start(ctx, name, opts...)
	if !span.IsRecording() {
		return ctx
	}
	return &spanCtx{Context: ctx, span: span, kind: kind}
}

// WantFastPath reports whether an L1 hit on the cache's fast path should be reported: only when it
// gets a span, since no metric is recorded there. Outside a sampled trace the hit then costs one
// context lookup.
func (o *Observer) WantFastPath(ctx context.Context) bool { return o.traced(ctx) }

// StartOp starts the span of a cache operation when the caller's trace is sampled.
func (o *Observer) StartOp(ctx context.Context, op tiered.Op) context.Context {
	if op == tiered.OpRefresh {
		if !o.tracedChild(ctx) {
			return ctx
		}
	} else if !o.traced(ctx) {
		return ctx
	}
	return o.start(ctx, opSpanName(op), kindOp, o.opStart)
}

// EndOp records the operation's duration and ends its span.
func (o *Observer) EndOp(ctx context.Context, op tiered.Op, r tiered.OpResult) {
	if r.Duration > 0 {
		o.m.recordOp(ctx, op, r)
	}
	span := spanOf(ctx, kindOp)
	if span == nil {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	if r.Outcome != tiered.OutcomeNone {
		attrs = append(attrs, AttrResult.String(r.Outcome.String()))
	}
	if r.Tier >= 0 && r.TierName != "" {
		attrs = append(attrs, AttrTierName.String(r.TierName), AttrTierLevel.Int(level(r.Tier)))
	}
	if op == tiered.OpGet || op == tiered.OpLoad {
		l1 := "miss"
		if r.Tier == 0 && r.Outcome != tiered.OutcomeNone {
			l1 = r.Outcome.String()
		}
		attrs = append(attrs, AttrL1Result.String(l1))
	}
	if r.Keys > 0 {
		attrs = append(attrs, AttrBatchKeys.Int(r.Keys))
		if op == tiered.OpGetMany {
			attrs = append(attrs, AttrBatchFound.Int(r.Found))
		}
	}
	if r.Promoted > 0 {
		attrs = append(attrs, AttrPromoted.Int(r.Promoted))
	}
	if r.Loaded {
		attrs = append(attrs, AttrLoaded.Bool(true))
	}
	if r.Coalesced {
		attrs = append(attrs, AttrCoalesced.Bool(true))
		if r.Leader != nil {
			if l := trace.LinkFromContext(r.Leader); l.SpanContext.IsValid() {
				span.AddLink(l)
			}
		}
	}
	if o.keys != nil && r.Key != "" {
		attrs = append(attrs, AttrKeyHash.String(o.keys.hash(r.Key)))
	}
	setError(span, r.Err, &attrs)
	span.SetAttributes(attrs...)
	span.End()
}

// setError marks span as failed with err, unless err is nil or means "not found".
func setError(span trace.Span, err error, attrs *[]attribute.KeyValue) {
	if err == nil || isNotFound(err) {
		return
	}
	*attrs = append(*attrs, AttrErrorType.String(errorType(err)))
	span.SetStatus(codes.Error, err.Error())
}

// StartTier starts a CLIENT span for a call to a remote tier when the operation is traced.
func (o *Observer) StartTier(ctx context.Context, t tiered.TierInfo, call tiered.TierCall) context.Context {
	if !o.tracedChild(ctx) {
		return ctx
	}
	return o.start(ctx, spanTierPrefix+call.String(), kindTier, []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level)), AttrTierCall.String(call.String())),
	})
}

// EndTier records the tier call and ends its span. A call skipped by an open breaker becomes an
// event on the enclosing span.
func (o *Observer) EndTier(ctx context.Context, t tiered.TierInfo, call tiered.TierCall, r tiered.TierResult) {
	if r.BreakerOpen {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.AddEvent(eventTierSkip, trace.WithAttributes(
				AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level)), AttrTierCall.String(call.String()),
				AttrBreakerState.String(breakerStates[tiered.BreakerOpen])))
		}
		return
	}
	o.m.recordTier(ctx, t, call, r)
	span := spanOf(ctx, kindTier)
	if span == nil {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	if call == tiered.CallGet && r.Err == nil {
		attrs = append(attrs, AttrTierHit.Bool(r.Hit))
	}
	if r.Timeout {
		attrs = append(attrs, AttrTierTimeout.Bool(true))
	}
	setError(span, r.Err, &attrs)
	span.SetAttributes(attrs...)
	span.End()
}

// StartLoad starts the strata.loader span when the operation is traced, and counts the load as in
// flight.
func (o *Observer) StartLoad(ctx context.Context) context.Context {
	o.m.loadStarted(ctx)
	if !o.tracedChild(ctx) {
		return ctx
	}
	return o.start(ctx, spanLoader, kindLoad, o.loadStart)
}

// EndLoad records the load and ends its span.
func (o *Observer) EndLoad(ctx context.Context, err error, d time.Duration) {
	o.m.loadEnded(ctx, err, d)
	span := spanOf(ctx, kindLoad)
	if span == nil {
		return
	}
	var attrs []attribute.KeyValue
	setError(span, err, &attrs)
	span.SetAttributes(attrs...)
	span.End()
}

// LeaseEvent counts a lease outcome in strata.cache.leases and, when the load is traced, adds
// it to the operation's span as the event strata.lease.<event>.
func (o *Observer) LeaseEvent(ctx context.Context, t tiered.TierInfo, event string) {
	o.m.leaseEvent(ctx, t, event)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("strata.lease."+event, trace.WithAttributes(AttrTierName.String(t.Name), AttrTierLevel.Int(level(t.Level))))
	}
}

// BreakerChanged counts the transition of a tier's circuit breaker.
func (o *Observer) BreakerChanged(t tiered.TierInfo, open bool) {
	o.m.breakerChanged(t, open)
}
