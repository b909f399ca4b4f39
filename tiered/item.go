package tiered

import (
	"encoding"
	"reflect"
	"time"
)

// times are the logical times of an entry, in Unix nanoseconds, as one tier keeps it (see
// [Strategy] for their meaning): created ≤ refreshAt ≤ staleAt ≤ swrEnd ≤ expiresAt.
type times struct {
	created   int64
	refreshAt int64 // start of the refresh-ahead window
	staleAt   int64 // end of freshness
	swrEnd    int64 // end of the serve-stale-while-refresh window
	expiresAt int64 // end of the stale-if-error window: the tier drops the entry then
}

// plain reports whether the entry has no window: it is fresh for as long as a tier keeps it.
func (t *times) plain() bool { return t.refreshAt == t.expiresAt }

// rescale returns t as a tier of scale dst keeps an entry that a tier of scale src holds with t:
// what remains of each window at now is multiplied by dst/src.
func (t times) rescale(now int64, src, dst float64) times {
	if src == dst {
		return t
	}
	f := dst / src
	at := func(x int64) int64 {
		if x <= now {
			return x
		}
		return now + scaled(x-now, f)
	}
	return times{created: t.created, refreshAt: at(t.refreshAt), staleAt: at(t.staleAt), swrEnd: at(t.swrEnd), expiresAt: at(t.expiresAt)}
}

// state is where an entry stands at a given time.
type state uint8

const (
	stateFresh        state = iota // serve
	stateRefresh                   // serve, and refresh in the background (refresh-ahead)
	stateStale                     // serve stale, and refresh in the background
	stateStaleIfError              // load; serve stale if the load fails
	stateExpired                   // a miss
)

// at returns the state of an entry with times t at now.
func (t *times) at(now int64) state {
	switch {
	case now < t.refreshAt:
		return stateFresh
	case now < t.staleAt:
		return stateRefresh
	case now < t.swrEnd:
		return stateStale
	case now < t.expiresAt:
		return stateStaleIfError
	}
	return stateExpired
}

// item is what the cache stores in value tiers: the decoded value with its logical times. Items
// are immutable once stored.
type item struct {
	value    any
	t        times
	size     int    // encoded payload size, or an estimate
	fp       uint64 // fingerprint of the value's type (0 for a negative entry)
	negative bool
	plain    bool // t.plain(): fresh without reading the clock
}

func newItem(value any, t times, size int, fp uint64, negative bool) *item {
	return &item{value: value, t: t, size: size, fp: fp, negative: negative, plain: t.plain()}
}

// Size estimates the item's footprint in bytes, for memory-bounded value backends (the otter
// tier weighs entries by it).
func (it *item) Size() int { return it.size + 64 }

// servable reports whether the item may be served as it is, with nothing else to do: fresh and
// not yet in its refresh-ahead window. The common case (no window) reads no clock.
func (it *item) servable() bool {
	return it.plain || time.Now().UnixNano() < it.t.refreshAt
}

// decoder gives a read its target type: it decodes payloads into that type and tells whether a
// value held in a value tier already has it.
type decoder interface {
	decode(c *Cache, payload []byte) (any, error)
	accepts(v any) bool
	// fingerprint is the fingerprint of the target type, 0 when any stored type is acceptable
	// (the target is an interface type).
	fingerprint(c *Cache) uint64
}

// typed is the decoder of Load[T], Get[T] and the batch functions. It has no fields, so passing
// it costs nothing.
type typed[T any] struct{}

func (typed[T]) decode(c *Cache, p []byte) (any, error) {
	var v T
	if t := reflect.TypeFor[T](); t.Kind() != reflect.Interface && c.fps.info(t).self {
		if t.Kind() == reflect.Pointer {
			v = reflect.New(t.Elem()).Interface().(T)
			return v, any(v).(encoding.BinaryUnmarshaler).UnmarshalBinary(p)
		}
		return v, any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(p)
	}
	if err := c.codec.Unmarshal(p, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func (typed[T]) accepts(v any) bool {
	_, ok := v.(T)
	return ok
}

func (typed[T]) fingerprint(c *Cache) uint64 {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Interface {
		return 0
	}
	return c.fps.of(t)
}
