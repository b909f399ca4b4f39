package tiered

import (
	"context"
	"time"
)

// Observer is the instrumentation hook: the cache calls it around every public operation, every
// call to a byte tier and every load. Implementations must be safe for concurrent use and fast;
// the otel package provides one that emits OpenTelemetry spans and metrics.
//
// Embed [NopObserver] to implement only some methods and stay compatible as methods are added.
type Observer interface {
	// StartOp is called when a public operation begins. The returned context (ctx itself when
	// nothing is attached) is passed to the other calls of this operation, and EndOp receives
	// exactly that context. A read answered by L1 on the fast path calls StartOp and EndOp back to
	// back: StartOp should then attach nothing unless it needs to (a sampled span).
	StartOp(ctx context.Context, op Op) context.Context
	// EndOp is called once when the operation returns.
	EndOp(ctx context.Context, op Op, r OpResult)
	// StartTier is called before a call to a byte tier; EndTier receives the context it returns.
	StartTier(ctx context.Context, t TierInfo, call TierCall) context.Context
	// EndTier is called after it. When the tier's breaker is open the call is skipped and EndTier
	// is called alone, with TierResult.BreakerOpen set and the operation's context.
	EndTier(ctx context.Context, t TierInfo, call TierCall, r TierResult)
	// StartLoad is called before the loader runs (in the load's detached context); EndLoad
	// receives the context it returns, which is also the loader's.
	StartLoad(ctx context.Context) context.Context
	// EndLoad is called after it, with its error and duration.
	EndLoad(ctx context.Context, err error, d time.Duration)
	// BreakerChanged is called when a tier's circuit breaker opens or closes.
	BreakerChanged(t TierInfo, open bool)
	// LeaseEvent is called, in the context of the load, for each key of a load that takes
	// leases (see Options.Leases) on tier t as its lease goes: event is "taken" (this load holds
	// the lease and calls the loader), "waited" (the value another instance's load stored
	// answered this one), "timed_out" (the wait reached Options.LeaseWait: this load calls the
	// loader), "lost" (the holder's write was refused because its lease had expired) or
	// "skipped" (the lease tier failed or its breaker is open: this load calls the loader
	// without a lease). The calls to the lease tier are reported as tier calls too.
	LeaseEvent(ctx context.Context, t TierInfo, event string)
}

// FastPathFilter is an optional interface of an [Observer]. A read answered by L1 on the fast path
// (a lookup and a type check, well under a microsecond) is reported with StartOp and EndOp only
// when WantFastPath(ctx) returns true; otherwise it is only counted in [Cache.Stats]. An observer
// implements it to keep the fast path cheap for calls it would record nothing for, such as reads
// outside a sampled trace. Without it, every fast-path hit is reported.
type FastPathFilter interface {
	// WantFastPath reports whether a fast-path L1 hit with this context should be reported.
	WantFastPath(ctx context.Context) bool
}

// NopObserver implements every Observer method as a no-op.
type NopObserver struct{}

func (NopObserver) StartOp(ctx context.Context, _ Op) context.Context { return ctx }
func (NopObserver) EndOp(context.Context, Op, OpResult)               {}
func (NopObserver) StartTier(ctx context.Context, _ TierInfo, _ TierCall) context.Context {
	return ctx
}
func (NopObserver) EndTier(context.Context, TierInfo, TierCall, TierResult) {}
func (NopObserver) StartLoad(ctx context.Context) context.Context           { return ctx }
func (NopObserver) EndLoad(context.Context, error, time.Duration)           {}
func (NopObserver) BreakerChanged(TierInfo, bool)                           {}
func (NopObserver) LeaseEvent(context.Context, TierInfo, string)            {}

// Op names a public operation.
type Op uint8

// Operations reported to an Observer.
const (
	OpGet Op = iota + 1
	OpLoad
	OpSet
	OpInvalidate
	OpUpdate
	OpRefresh
	OpGetMany
	OpSetMany
)

var opNames = [...]string{"", "get", "load", "set", "invalidate", "update", "refresh", "get_many", "set_many"}

// String returns the operation's name ("get", "load", ...).
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// Outcome is how a read ended.
type Outcome uint8

// Read outcomes.
const (
	OutcomeNone         Outcome = iota // not a read, or failed before an answer
	OutcomeHit                         // a fresh value was found in tier OpResult.Tier
	OutcomeMiss                        // no tier held it (the loader ran when there was one)
	OutcomeStale                       // a stale value was served while one refresh runs
	OutcomeNegative                    // a cached "not found" was found
	OutcomeStaleIfError                // a value kept for stale-if-error was served: its load failed or backs off
)

var outcomeNames = [...]string{"none", "hit", "miss", "stale", "negative", "stale_if_error"}

// String returns the outcome's name.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// OpResult describes how an operation ended.
type OpResult struct {
	Outcome Outcome
	// Tier is the level (0 = L1) of the tier that answered a read, -1 when none did.
	Tier int
	// TierName is that tier's backend name, "" when none did.
	TierName string
	// Loaded is true when the loader ran for this answer (in this call or in the call it joined).
	Loaded bool
	// Promoted counts the tiers a hit was copied into.
	Promoted int
	// Coalesced is true when this call waited on another call's walk or load.
	Coalesced bool
	// Leader is the context of the call that led the walk or load this call waited on, so an
	// observer can link the two; nil unless Coalesced.
	Leader context.Context
	// Err is the error returned to the caller.
	Err error
	// Keys is the number of keys of a batch operation (GetMany, SetMany), 0 for the others.
	Keys int
	// Found is the number of keys a GetMany answered, with a value or a cached "not found"; its
	// Outcome is OutcomeNone, since keys end differently.
	Found int
	// Key is the key of a single-key operation ("" when there are several). It is raw: an
	// observer must not put it in metric attributes or span names, and should hash it before
	// exporting it anywhere.
	Key string
	// Duration is how long the operation took. It is zero for a read answered by L1 on the fast
	// path, which is not timed (the lookup takes well under a microsecond).
	Duration time.Duration
}

// TierInfo identifies a tier.
type TierInfo struct {
	Level int
	Name  string
}

// TierCall names a call to a byte tier.
type TierCall uint8

// Tier calls.
const (
	CallGet TierCall = iota + 1
	CallSet
	CallDelete
)

var callNames = [...]string{"", "get", "set", "delete"}

// String returns the call's name.
func (c TierCall) String() string {
	if int(c) < len(callNames) {
		return callNames[c]
	}
	return "unknown"
}

// TierResult describes a finished tier call.
type TierResult struct {
	Hit         bool // a Get found an entry
	Err         error
	Timeout     bool // the call ran out of the tier's Timeout
	BreakerOpen bool // the call was skipped because the breaker is open
	Duration    time.Duration
}
