// Package ottertier is the in-process tier of strata, on otter v2: a bounded, concurrent cache of
// decoded values with per-entry expiry. The folder is tiered/otter; the package is named ottertier
// so it does not clash with otter itself.
//
// It is the embedded default L1 of tiered.New; build one yourself to choose its bound:
//
//	l1, err := ottertier.New(ottertier.Options{MaxBytes: 256 << 20})
package ottertier

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
)

// Options configures a Backend. The zero value bounds it to DefaultMaxEntries entries.
type Options struct {
	// MaxEntries bounds the number of entries. Zero (with MaxBytes zero) means DefaultMaxEntries.
	MaxEntries int
	// MaxBytes bounds the estimated memory of the entries instead: each weighs the length of its
	// key plus the Size() of its value when the value has one (the tiered cache's values do:
	// their encoded size plus a fixed overhead). Set either MaxEntries or MaxBytes, not both.
	MaxBytes uint64
	// Weigher replaces the default weight of an entry when MaxBytes is set.
	Weigher func(key string, value any) uint32
	// StatsRecorder receives otter's hit, miss and eviction events (for metrics). Nil records
	// nothing.
	StatsRecorder stats.Recorder
	// Name overrides the backend's name ("otter").
	Name string
}

// DefaultMaxEntries bounds a Backend built from zero Options.
const DefaultMaxEntries = 100_000

// ErrInvalidOptions wraps configuration errors of New.
var ErrInvalidOptions = errors.New("ottertier: invalid options")

// Backend is an in-process value tier. It implements tiered.ValueBackend.
type Backend struct {
	c        *otter.Cache[string, *node]
	name     string
	weighted bool
	stop     sync.Once
}

type node struct {
	v   any
	ttl time.Duration
}

type sizer interface{ Size() int }

// New builds a Backend.
func New(o Options) (*Backend, error) {
	return build(o, newMaintenance())
}

// build is New with the maintenance executor chosen by the caller.
func build(o Options, m *maintenance) (*Backend, error) {
	if o.MaxEntries < 0 {
		return nil, errors.Join(ErrInvalidOptions, errors.New("MaxEntries is negative"))
	}
	if o.MaxEntries > 0 && o.MaxBytes > 0 {
		return nil, errors.Join(ErrInvalidOptions, errors.New("set MaxEntries or MaxBytes, not both"))
	}
	if o.Weigher != nil && o.MaxBytes == 0 {
		return nil, errors.Join(ErrInvalidOptions, errors.New("a Weigher needs MaxBytes"))
	}
	opts := &otter.Options[string, *node]{
		StatsRecorder: o.StatsRecorder,
		Executor:      m.run,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *node]) time.Duration {
			return e.Value.ttl
		}),
	}
	b := &Backend{name: o.Name}
	if b.name == "" {
		b.name = "otter"
	}
	if o.MaxBytes > 0 {
		b.weighted = true
		opts.MaximumWeight = o.MaxBytes
		w := o.Weigher
		opts.Weigher = func(k string, n *node) uint32 {
			if w != nil {
				return w(k, n.v)
			}
			size := len(k) + 48
			if s, ok := n.v.(sizer); ok {
				size += s.Size()
			}
			return uint32(min(size, 1<<31))
		}
	} else {
		opts.MaximumSize = o.MaxEntries
		if opts.MaximumSize == 0 {
			opts.MaximumSize = DefaultMaxEntries
		}
	}
	c, err := otter.New(opts)
	if err != nil {
		return nil, errors.Join(ErrInvalidOptions, err)
	}
	b.c = c
	return b, nil
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// Get returns the value stored under key.
func (b *Backend) Get(key string) (any, bool) {
	n, ok := b.c.GetIfPresent(key)
	if !ok {
		return nil, false
	}
	return n.v, true
}

// Set stores v under key for ttl.
func (b *Backend) Set(key string, v any, ttl time.Duration) {
	if ttl <= 0 {
		b.c.Invalidate(key)
		return
	}
	b.c.Set(key, &node{v: v, ttl: ttl})
}

// Delete removes the keys.
func (b *Backend) Delete(keys ...string) {
	for _, k := range keys {
		b.c.Invalidate(k)
	}
}

// Clear removes every entry.
func (b *Backend) Clear(context.Context) error {
	b.c.InvalidateAll()
	return nil
}

// Len returns the number of entries (an estimate under concurrent writes).
func (b *Backend) Len() int { return b.c.EstimatedSize() }

// Keys calls yield for every key until it returns false.
func (b *Backend) Keys(yield func(string) bool) {
	for k := range b.c.Keys() {
		if !yield(k) {
			return
		}
	}
}

// Weighted reports whether the backend is bounded by bytes.
func (b *Backend) Weighted() bool { return b.weighted }

// Close stops otter's background goroutines. The backend must not be used afterwards. Closing
// twice is harmless.
func (b *Backend) Close() { b.stop.Do(func() { b.c.StopAllGoroutines() }) }

// ExpiresAfter reports how long the entry under key has left, without counting as a read.
func (b *Backend) ExpiresAfter(key string) (time.Duration, bool) {
	e, ok := b.c.GetEntryQuietly(key)
	if !ok {
		return 0, false
	}
	return e.ExpiresAfter(), true
}

// CleanUp performs otter's pending maintenance (evictions, expirations) now rather than on the
// next operations.
func (b *Backend) CleanUp() { b.c.CleanUp() }
