package stratotel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"

	"go.opentelemetry.io/otel/attribute"

	"github.com/stratacache/strata/tiered"
)

// Attribute keys set on spans and metrics. Tier levels count from 1 (L1 is level 1), as in the
// cache's logs.
const (
	// AttrOperation is the cache operation: get, load, set, delete, invalidate, update, refresh,
	// get_many, set_many.
	AttrOperation = attribute.Key("strata.operation")
	// AttrResult is how a read ended: hit, miss, stale, negative (a cached "not found"), and on
	// the requests metric also coalesced.
	AttrResult = attribute.Key("strata.result")
	// AttrTierName is the backend name of a tier ("otter", "redis"); on an operation's span, of
	// the tier that answered.
	AttrTierName = attribute.Key("strata.tier.name")
	// AttrTierLevel is the level of a tier, 1 for L1.
	AttrTierLevel = attribute.Key("strata.tier.level")
	// AttrTierCall is the call made to a tier: get, set or delete.
	AttrTierCall = attribute.Key("strata.tier.call")
	// AttrTierHit says whether a tier's get found an entry.
	AttrTierHit = attribute.Key("strata.tier.hit")
	// AttrTierTimeout says that a tier call ran out of the tier's timeout.
	AttrTierTimeout = attribute.Key("strata.tier.timeout")
	// AttrL1Result is what the in-process L1 answered to a read: hit, stale, negative or miss.
	AttrL1Result = attribute.Key("strata.l1.result")
	// AttrPromoted is the number of tiers a lower-tier hit was copied into.
	AttrPromoted = attribute.Key("strata.promoted")
	// AttrLoaded says that the loader ran for this answer (in this call or in the one it joined).
	AttrLoaded = attribute.Key("strata.loaded")
	// AttrCoalesced says that the call waited on another call's walk or load; its span links to
	// that call's span.
	AttrCoalesced = attribute.Key("strata.coalesced")
	// AttrBreakerState is a circuit breaker's state: closed, open or half_open.
	AttrBreakerState = attribute.Key("strata.breaker.state")
	// AttrInvalidationEvent is what the strata.cache.invalidations metric counts: local (an
	// invalidation call made on this cache: Invalidate, Update, SetWithBroadcast,
	// InvalidatePattern, InvalidateTags, InvalidateAll), sent (a bus message published), received
	// (a message that arrived, own echoes and malformed ones included), applied (another
	// instance's message carried out here), failed (a publish that failed, or a received message
	// that could not be applied), malformed (a message that could not be decoded) or own_echo
	// (this cache's own message coming back, ignored).
	AttrInvalidationEvent = attribute.Key("strata.invalidation.event")
	// AttrLeaseEvent is a lease outcome of a load across instances: taken (this load holds the
	// key's lease and calls the loader), waited (another instance's load answered it),
	// timed_out (the wait reached tiered.Options.LeaseWait), lost (the holder's write was
	// refused: its lease had expired) or skipped (the lease tier failed).
	AttrLeaseEvent = attribute.Key("strata.lease.event")
	// AttrBatchKeys is the number of keys of a batch operation (get_many, set_many).
	AttrBatchKeys = attribute.Key("strata.batch.keys")
	// AttrBatchFound is the number of keys a get_many answered, with a value or a cached "not
	// found"; the others are misses.
	AttrBatchFound = attribute.Key("strata.batch.found")
	// AttrKeyHash is the keyed hash of the key, with [WithKeyHash] only.
	AttrKeyHash = attribute.Key("strata.key.hash")
	// AttrErrorType is the semantic-conventions error.type: a short name for the errors the cache
	// defines (timeout, canceled, panic, tier_unavailable, broadcast, type_mismatch, ...),
	// otherwise the Go type of the error.
	AttrErrorType = attribute.Key("error.type")
)

// Span and event names.
const (
	spanTierPrefix  = "strata.tier."
	spanLoader      = "strata.loader"
	eventTierSkip   = "strata.tier.skipped"
	resultCoalesced = "coalesced"
)

var opSpanNames = [...]string{"strata.unknown", "strata.get", "strata.load", "strata.set", "strata.invalidate", "strata.update", "strata.refresh", "strata.get_many", "strata.set_many"}

func opSpanName(op tiered.Op) string {
	if int(op) < len(opSpanNames) {
		return opSpanNames[op]
	}
	return opSpanNames[0]
}

// level converts the hook's 0-based level into the 1-based one of attributes.
func level(l int) int { return l + 1 }

// isNotFound reports whether err is the loader's "no such value", an outcome rather than a failure.
func isNotFound(err error) bool { return errors.Is(err, tiered.ErrNotFound) }

var knownErrors = []struct {
	err  error
	name string
}{
	{tiered.ErrLoaderPanic, "panic"},
	{tiered.ErrTierUnavailable, "tier_unavailable"},
	{tiered.ErrBroadcast, "broadcast"},
	{tiered.ErrTypeMismatch, "type_mismatch"},
	{tiered.ErrClosed, "closed"},
	{tiered.ErrEmptyKey, "empty_key"},
	{tiered.ErrInvalidOptions, "invalid_options"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "canceled"},
}

// errorType names err for error.type, keeping the attribute's cardinality low.
func errorType(err error) string {
	for _, k := range knownErrors {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	// The innermost error says most about the cause; fmt's wrappers say nothing.
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	t := reflect.TypeOf(err)
	name := t.String()
	if t.Kind() == reflect.Pointer && t.Elem().PkgPath() != "" {
		name = "*" + t.Elem().PkgPath() + "." + t.Elem().Name()
	} else if t.PkgPath() != "" {
		name = t.PkgPath() + "." + t.Name()
	}
	return name
}

// keyHasher computes strata.key.hash.
type keyHasher struct{ secret []byte }

func (h keyHasher) hash(key string) string {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte(key))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])[:16])
}

var breakerStates = [...]string{"closed", "open", "half_open"}

func breakerStateName(s tiered.BreakerState) string {
	if int(s) < len(breakerStates) {
		return breakerStates[s]
	}
	return "unknown"
}
