// Package redistier is the Redis tier of strata, on go-redis v9. It takes a redis.UniversalClient,
// so one code path serves a single node, Sentinel (failover) and Redis Cluster. The folder is
// tiered/redis; the package is named redistier so it does not clash with go-redis.
//
// Keys arrive from the tiered cache already carrying its namespace prefix. Values are the cache's
// envelopes: one GET answers a read, with the remaining lifetime inside the entry.
//
// Give the client ContextTimeoutEnabled: true so that go-redis honours context deadlines; the
// cache then bounds each call by the tier's Timeout directly. Without it the backend still releases
// the caller at the timeout, at the price of a goroutine per call.
//
// The package also carries the Redis side of strata's other features: [Bus], the invalidation bus
// over Pub/Sub, and Streams (Publish, ReadLatest, Read on a Backend).
package redistier

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
)

// Options configures a Backend. The zero value is ready to use.
type Options struct {
	// Name overrides the backend's name ("redis"), to tell two Redis tiers apart.
	Name string
}

// ErrNilClient is returned by New without a client.
var ErrNilClient = errors.New("redistier: nil client")

// Backend is a byte tier on Redis. It implements tiered.ByteBackend.
type Backend struct {
	c       redis.UniversalClient
	name    string
	honours bool
	// oldSet is set once the server refused SET with both NX and GET (before Redis 7.0):
	// leases are then taken by a script.
	oldSet atomic.Bool
}

// New builds a Backend on client. The client stays the caller's to close.
func New(client redis.UniversalClient, o Options) (*Backend, error) {
	honours, err := checkClient(client)
	if err != nil {
		return nil, err
	}
	b := &Backend{c: client, name: o.Name, honours: honours}
	if b.name == "" {
		b.name = "redis"
	}
	return b, nil
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// Client returns the underlying client.
func (b *Backend) Client() redis.UniversalClient { return b.c }

// get is Get without the guard (see guard).
func (b *Backend) get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := b.c.Get(ctx, key).Result()
	if err == redis.Nil {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redistier: GET: %w", err)
	}
	if isLease(v) {
		return nil, false, nil // a load elsewhere holds the key's lease: no entry yet
	}
	// The reply is a copy of the value that nothing else references: view it without copying it
	// again. The cache only reads entries.
	return unsafe.Slice(unsafe.StringData(v), len(v)), true, nil
}

// set is Set without the guard (see guard).
func (b *Backend) set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	if err := b.c.Set(ctx, key, data, ttl).Err(); err != nil {
		return fmt.Errorf("redistier: SET: %w", err)
	}
	return nil
}

// del is Delete without the guard (see guard).
func (b *Backend) del(ctx context.Context, keys ...string) error {
	switch len(keys) {
	case 0:
		return nil
	case 1:
		if err := b.c.Unlink(ctx, keys[0]).Err(); err != nil {
			return fmt.Errorf("redistier: UNLINK: %w", err)
		}
		return nil
	}
	_, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redistier: UNLINK: %w", err)
	}
	return nil
}
