// Package redistier is the Redis tier of strata, on go-redis v9. It takes a redis.UniversalClient,
// so one code path serves a single node, Sentinel (failover) and Redis Cluster. The folder is
// tiered/redis; the package is named redistier so it does not clash with go-redis.
//
// Keys arrive from the tiered cache already carrying its namespace prefix. Values are the cache's
// envelopes: one GET answers a read, with the remaining lifetime inside the entry.
//
// Give the client ContextTimeoutEnabled: true so that go-redis honours context deadlines; the
// cache then bounds each call by the tier's Timeout directly. Without it the cache still releases
// the caller at the timeout, at the price of a goroutine per call.
package redistier

import (
	"context"
	"errors"
	"fmt"
	"time"

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
}

// New builds a Backend on client. The client stays the caller's to close.
func New(client redis.UniversalClient, o Options) (*Backend, error) {
	if client == nil {
		return nil, ErrNilClient
	}
	b := &Backend{c: client, name: o.Name}
	if b.name == "" {
		b.name = "redis"
	}
	switch c := client.(type) {
	case *redis.Client:
		if c == nil {
			return nil, ErrNilClient
		}
		b.honours = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		if c == nil {
			return nil, ErrNilClient
		}
		b.honours = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		if c == nil {
			return nil, ErrNilClient
		}
	}
	return b, nil
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// Client returns the underlying client.
func (b *Backend) Client() redis.UniversalClient { return b.c }

// HonoursContext reports whether the client was built with ContextTimeoutEnabled.
func (b *Backend) HonoursContext() bool { return b.honours }

// Get reads key with one GET.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := b.c.Get(ctx, key).Bytes()
	if err == redis.Nil {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redistier: GET: %w", err)
	}
	return v, true, nil
}

// Set writes key with SET PX.
func (b *Backend) Set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	if err := b.c.Set(ctx, key, data, ttl).Err(); err != nil {
		return fmt.Errorf("redistier: SET: %w", err)
	}
	return nil
}

// Delete removes keys with UNLINK. Several keys go in one pipeline of single-key UNLINKs, which
// go-redis routes per slot in a Cluster.
func (b *Backend) Delete(ctx context.Context, keys ...string) error {
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
