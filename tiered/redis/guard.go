package redistier

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/ctxguard"
	"github.com/stratacache/strata/tiered"
)

// The cache bounds every call to a tier through its context alone (see tiered.ByteBackend). go-redis
// honours context deadlines only when the client is built with ContextTimeoutEnabled; for other
// clients every call below runs on a goroutine of its own, and the caller is released when its
// context is done, whatever the client does.

// checkClient validates a client and reports whether it honours context deadlines.
func checkClient(client redis.UniversalClient) (honours bool, err error) {
	switch c := client.(type) {
	case nil:
		return false, ErrNilClient
	case *redis.Client:
		if c == nil {
			return false, ErrNilClient
		}
		return c.Options().ContextTimeoutEnabled, nil
	case *redis.ClusterClient:
		if c == nil {
			return false, ErrNilClient
		}
		return c.Options().ContextTimeoutEnabled, nil
	case *redis.Ring:
		if c == nil {
			return false, ErrNilClient
		}
	}
	return false, nil
}

// guard runs fn with ctx: directly when the client honours ctx, otherwise on a goroutine of its
// own, returning ctx's error when ctx ends first.
func guard(ctx context.Context, honours bool, fn func(context.Context) error) error {
	_, err := guarded(ctx, honours, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// guarded is guard for a call with a result.
func guarded[T any](ctx context.Context, honours bool, fn func(context.Context) (T, error)) (T, error) {
	if honours {
		return fn(ctx)
	}
	v, err := ctxguard.Call(ctx, func() (T, error) { return fn(ctx) })
	if err != nil && (err == ctx.Err() || err == context.DeadlineExceeded) {
		err = fmt.Errorf("redistier: %w", err)
	}
	return v, err
}

var (
	_ tiered.ByteBackend    = (*Backend)(nil)
	_ tiered.BatchGetter    = (*Backend)(nil)
	_ tiered.BatchSetter    = (*Backend)(nil)
	_ tiered.PatternDeleter = (*Backend)(nil)
	_ tiered.TagIndexer     = (*Backend)(nil)
	_ tiered.Bus            = (*Bus)(nil)
)

// GetMany reads keys in as few round trips as the deployment allows: one MGET on a single node
// (or behind Sentinel); in a Cluster, keys are grouped by hash slot and the per-slot MGETs go in
// one pipeline, which go-redis sends as one round trip per master. The result has one element per
// key, nil for a miss; callers must not modify the slices.
func (b *Backend) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	return guarded(ctx, b.honours, func(ctx context.Context) ([][]byte, error) { return b.getMany(ctx, keys) })
}

// SetMany writes data[i] under keys[i] for ttls[i] with one pipeline of SET PX (routed per master
// in a Cluster).
func (b *Backend) SetMany(ctx context.Context, keys []string, data [][]byte, ttls []time.Duration) error {
	return guard(ctx, b.honours, func(ctx context.Context) error { return b.setMany(ctx, keys, data, ttls) })
}

// DeletePattern removes every key matching the Redis glob pattern and returns how many it removed.
// In a Cluster it scans every master, in a Ring every shard. Keys written while it runs may survive it.
func (b *Backend) DeletePattern(ctx context.Context, pattern string) (int, error) {
	return guarded(ctx, b.honours, func(ctx context.Context) (int, error) { return b.deletePattern(ctx, pattern) })
}

// Get reads key with one GET.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	type got struct {
		v  []byte
		ok bool
	}
	r, err := guarded(ctx, b.honours, func(ctx context.Context) (got, error) {
		v, ok, err := b.get(ctx, key)
		return got{v, ok}, err
	})
	return r.v, r.ok, err
}

// Set writes key with SET PX.
func (b *Backend) Set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return guard(ctx, b.honours, func(ctx context.Context) error { return b.set(ctx, key, data, ttl) })
}

// Delete removes keys with UNLINK. Several keys go in one pipeline of single-key UNLINKs, which
// go-redis routes per slot in a Cluster.
func (b *Backend) Delete(ctx context.Context, keys ...string) error {
	return guard(ctx, b.honours, func(ctx context.Context) error { return b.del(ctx, keys...) })
}

// IndexTags records in the index set of each tag (tagKeys are the sets' keys) that key carries it
// for ttl.
func (b *Backend) IndexTags(ctx context.Context, key string, tagKeys []string, ttl time.Duration) error {
	return guard(ctx, b.honours, func(ctx context.Context) error { return b.indexTags(ctx, key, tagKeys, ttl) })
}

// TakeTagged removes the index sets tagKeys and returns the live keys they held (a key carrying
// several of the tags may appear more than once).
func (b *Backend) TakeTagged(ctx context.Context, tagKeys []string) ([]string, error) {
	return guarded(ctx, b.honours, func(ctx context.Context) ([]string, error) { return b.takeTagged(ctx, tagKeys) })
}
