package tiered

import (
	"context"
	"time"
)

// Backend is one storage tier. A backend implements exactly one of [ValueBackend] (in-process,
// holds decoded values) or [ByteBackend] (holds encoded entries, usually remote), and may implement
// the optional capability interfaces below, which the cache discovers by type assertion.
//
// Backends take keys exactly as the cache gives them; the cache adds Options.Namespace to the keys
// of byte backends. Values a value backend receives implement Size() int, an estimate of their
// footprint in bytes, for backends bounded by memory.
type Backend interface {
	// Name identifies the backend in stats, logs and traces ("otter", "redis", ...).
	Name() string
}

// ValueBackend is an in-process tier that keeps decoded values. It never blocks, so its methods
// take no context. It holds values the cache gives it as opaque items and must drop them after ttl.
type ValueBackend interface {
	Backend
	// Get returns the item stored under key, if present and not expired.
	Get(key string) (item any, ok bool)
	// Set stores item under key for ttl (ttl > 0).
	Set(key string, item any, ttl time.Duration)
	// Delete removes the keys.
	Delete(keys ...string)
}

// ByteBackend is a tier that keeps encoded entries: the cache's envelope (a header with the
// entry's type fingerprint and logical times, then the codec's payload). The remaining lifetime of
// what it returns is in the envelope, so one round trip answers a read.
//
// Every method must return promptly once its context is done: the cache bounds each call with the
// tier's Timeout through the context alone. A backend on a client that cannot honour contexts
// guards its own calls (the redis tier does for go-redis clients built without
// ContextTimeoutEnabled).
//
// A backend whose reads (Get, GetMany) end by their context's deadline without watching its Done
// channel — they cannot block, or they set the deadline on their sockets, or they arm their own
// timer when they hand the call to another goroutine — may say so with a method
// HonoursDeadline() bool that returns true: the cache then gives its reads a context that
// carries the tier's deadline without arming a timer for it (its Done channel is the caller's),
// which saves a timer and a few allocations per read.
type ByteBackend interface {
	Backend
	// Get returns the bytes stored under key. A missing key is (nil, false, nil).
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores data under key for ttl (ttl > 0).
	Set(ctx context.Context, key string, data []byte, ttl time.Duration) error
	// Delete removes the keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// Optional capabilities.

// Clearer removes every entry of a backend (for a byte backend: every key under the namespace).
type Clearer interface {
	Clear(ctx context.Context) error
}

// ValuePatternDeleter deletes from an in-process tier every key matching a Redis-style glob.
type ValuePatternDeleter interface {
	DeletePattern(pattern string) int
}

// PatternDeleter deletes from a byte tier every key matching a Redis-style glob and reports how
// many it removed.
type PatternDeleter interface {
	DeletePattern(ctx context.Context, pattern string) (int, error)
}

// BatchGetter reads many keys of a byte tier at once (one round trip per node where possible).
// The result has one element per key, nil for a miss.
type BatchGetter interface {
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
}

// BatchSetter writes many entries of a byte tier at once: data[i] under keys[i] for ttls[i]. The
// slices have equal lengths.
type BatchSetter interface {
	SetMany(ctx context.Context, keys []string, data [][]byte, ttls []time.Duration) error
}

// TagIndexer is implemented by byte tiers that keep an index of tagged keys for InvalidateTags.
// Keys and index keys arrive with the cache's namespace.
type TagIndexer interface {
	// IndexTags records that key carries the tags whose index keys are tagKeys, for ttl. The index
	// must not outlive its entries by much: it is bounded by the entries alive.
	IndexTags(ctx context.Context, key string, tagKeys []string, ttl time.Duration) error
	// TakeTagged removes the indexes tagKeys and returns the live keys they held.
	TakeTagged(ctx context.Context, tagKeys []string) ([]string, error)
}
