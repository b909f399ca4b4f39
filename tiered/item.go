package tiered

import (
	"reflect"
	"time"
)

// item is what the cache stores in value tiers: the decoded value with its timestamps. Items are
// immutable once stored.
type item struct {
	value     any
	staleAt   int64 // end of freshness, Unix nanoseconds
	expiresAt int64 // end of the stale window
	size      int   // encoded payload size, or an estimate
	negative  bool
}

// Size implements Sizer for memory-bounded value backends.
func (it *item) Size() int { return it.size + 64 }

// fresh reports whether the item may be served without refresh. Items without a stale window
// (staleAt == expiresAt) are fresh for as long as their backend keeps them, so the common case
// reads no clock.
func (it *item) fresh() bool {
	return it.staleAt == it.expiresAt || time.Now().UnixNano() < it.staleAt
}

// decoder gives a read its target type: it decodes payloads into that type and tells whether a
// value held in a value tier already has it.
type decoder interface {
	decode(c Codec, payload []byte) (any, error)
	accepts(v any) bool
}

// typed is the decoder of Load[T] and Get[T]. It has no fields, so passing it costs nothing.
type typed[T any] struct{}

func (typed[T]) decode(c Codec, p []byte) (any, error) {
	var v T
	if err := c.Unmarshal(p, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func (typed[T]) accepts(v any) bool {
	_, ok := v.(T)
	return ok
}

// dynamic is the decoder of the methods that fill a destination pointer.
type dynamic struct{ typ reflect.Type }

func (d dynamic) decode(c Codec, p []byte) (any, error) {
	ptr := reflect.New(d.typ)
	if err := c.Unmarshal(p, ptr.Interface()); err != nil {
		return nil, err
	}
	return ptr.Elem().Interface(), nil
}

func (d dynamic) accepts(v any) bool {
	if v == nil {
		return d.typ.Kind() == reflect.Interface
	}
	return reflect.TypeOf(v).AssignableTo(d.typ)
}
