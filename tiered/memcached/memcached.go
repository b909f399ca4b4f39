// Package memcachedtier is the Memcached tier of strata, on gomemcache
// (github.com/bradfitz/gomemcache). The folder is tiered/memcached; the package is named
// memcachedtier so it does not clash with the client.
//
// Values are the cache's envelopes, so one get answers a read, with the entry's remaining
// lifetime inside it; the backend stores each entry for the TTL the cache gives it.
//
// What Memcached imposes, and how the tier handles it:
//
//   - Keys are at most 250 bytes of printable ASCII without spaces. A key that is longer, empty,
//     or holds a space, a control byte or a byte above 0x7e is stored under "strata:h:" and the
//     hex SHA-256 of the key, with the full key at the start of the value; a read checks it, so
//     two keys whose hashes collide are two misses, never one key's value served for the other.
//   - Expirations are whole seconds, and one of more than 30 days is read by the server as an
//     absolute Unix time. TTLs are rounded up to the next second (the envelope still carries the
//     exact expiry, which the cache honours) and sent as absolute times beyond 30 days, read from
//     this machine's clock.
//   - Items are at most 1 MiB by default (memcached -I raises it); larger writes fail.
//   - Memcached cannot list its keys: the tier offers no pattern delete, so a cache with this tier
//     returns an error wrapping tiered.ErrUnsupported from InvalidatePattern and InvalidateAll,
//     and keeps no tag index in it (tiered.TagIndexer).
//   - InvalidateTags on a cache with this tier removes, here as in every tier, the keys the
//     cache's in-process tag index and the tiers that keep an index (Redis) know, and then returns
//     an error wrapping tiered.ErrUnsupported that names this tier: a tagged entry that no index
//     knows (written by an instance whose other tiers keep none, or indexed in a process since
//     restarted) is left in place until it expires. Invalidate by key, or version the keys, for
//     data that must go at once.
//
// gomemcache takes no context: its calls are bounded by the client's Timeout (a socket deadline,
// 500 ms by default). The cache bounds every call of a tier by its context alone
// (tiered.ByteBackend), so by default each call of this backend runs on a goroutine of its own
// and returns as soon as its context is done; the abandoned call ends at the client's Timeout,
// so set that close to the tier's Timeout. A read whose context cannot be cancelled (the caller's
// is context.Background) and whose deadline is at least twice the client's Timeout away is called
// directly, since the client ends it in time: with the client's Timeout at most half the tier's,
// such reads cost no goroutine. With Options.TrustClientTimeout the backend calls the client
// directly for every call, which saves a goroutine handoff per call, and the client's Timeout
// alone bounds each call.
package memcachedtier

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"golang.org/x/sync/errgroup"

	"github.com/stratacache/strata/internal/ctxguard"
)

// Options configures a Backend. The zero value is ready to use.
type Options struct {
	// Name overrides the backend's name ("memcached"), to tell two Memcached tiers apart.
	Name string
	// TrustClientTimeout makes the backend call the client directly, rather than on a goroutine
	// of its own per call, and rely on the client's Timeout (a socket deadline set on every call)
	// to bound each call. It is only safe when the client's Timeout is no longer than the tier's
	// Timeout: a done context is then noticed between client calls, not during one, so a call may
	// hold its caller for up to the client's Timeout (per server round trip) past its deadline.
	TrustClientTimeout bool
	// BatchConcurrency is how many sets SetMany runs at once (Memcached has no multi-set in the
	// protocol gomemcache speaks). Zero means DefaultBatchConcurrency. Raise the client's
	// MaxIdleConns to match, or the extra connections are closed after each batch.
	BatchConcurrency int
}

// DefaultBatchConcurrency is the number of concurrent sets of a SetMany when
// Options.BatchConcurrency is zero.
const DefaultBatchConcurrency = 4

var (
	// ErrNilClient is returned by New without a client.
	ErrNilClient = errors.New("memcachedtier: nil client")
	// ErrInvalidOptions wraps a configuration error of New.
	ErrInvalidOptions = errors.New("memcachedtier: invalid options")
)

// Backend is a byte tier on Memcached. It implements tiered.ByteBackend, tiered.BatchGetter and
// tiered.BatchSetter. Every method returns once its context is done (see
// Options.TrustClientTimeout for the exception).
type Backend struct {
	c     *memcache.Client
	name  string
	conc  int
	trust bool
}

// New builds a Backend on client. The client stays the caller's to close.
func New(client *memcache.Client, o Options) (*Backend, error) {
	if client == nil {
		return nil, ErrNilClient
	}
	if o.BatchConcurrency < 0 {
		return nil, fmt.Errorf("%w: BatchConcurrency %d is negative", ErrInvalidOptions, o.BatchConcurrency)
	}
	b := &Backend{c: client, name: o.Name, conc: o.BatchConcurrency, trust: o.TrustClientTimeout}
	if b.name == "" {
		b.name = "memcached"
	}
	if b.conc == 0 {
		b.conc = DefaultBatchConcurrency
	}
	return b, nil
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// HonoursDeadline reports that reads end by their context's deadline without a timer of the
// cache's: a read is called directly when its context cannot be cancelled and the client's
// Timeout ends it before the deadline anyway (it takes at most two Timeouts: a dial, then the
// exchange), and is guarded with a timer of its own otherwise.
func (b *Backend) HonoursDeadline() bool { return true }

// bound is the longest a read can take with the client's timeouts: a dial, then the exchange.
func (b *Backend) bound() time.Duration {
	t := b.c.Timeout
	if t == 0 {
		t = memcache.DefaultTimeout
	}
	return 2 * t
}

// Client returns the underlying client.
func (b *Backend) Client() *memcache.Client { return b.c }

// Get reads key with one get.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("memcachedtier: %w", err)
	}
	if b.trust {
		return b.get(key)
	}
	type got struct {
		v  []byte
		ok bool
	}
	r, err := ctxguard.CallWithin(ctx, b.bound(), func() (got, error) {
		v, ok, err := b.get(key)
		return got{v, ok}, err
	})
	return r.v, r.ok, released(ctx, err)
}

func (b *Backend) get(key string) ([]byte, bool, error) {
	name, hashed := itemKey(key)
	it, err := b.c.Get(name)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("memcachedtier: get: %w", err)
	}
	v, ok := unwrap(it, key, hashed)
	return v, ok, nil
}

// GetMany reads keys with one multi-key get per server. The result has one element per key, nil
// for a miss.
func (b *Backend) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memcachedtier: %w", err)
	}
	if b.trust {
		return b.getMany(keys, out)
	}
	got, err := ctxguard.CallWithin(ctx, b.bound(), func() ([][]byte, error) { return b.getMany(keys, out) })
	return got, released(ctx, err)
}

func (b *Backend) getMany(keys []string, out [][]byte) ([][]byte, error) {
	names := make([]string, len(keys))
	hashed := make([]bool, len(keys))
	seen := make(map[string]struct{}, len(keys))
	unique := make([]string, 0, len(keys))
	for i, k := range keys {
		names[i], hashed[i] = itemKey(k)
		if _, dup := seen[names[i]]; !dup {
			seen[names[i]] = struct{}{}
			unique = append(unique, names[i])
		}
	}
	items, err := b.c.GetMulti(unique)
	if err != nil {
		return nil, fmt.Errorf("memcachedtier: get_multi: %w", err)
	}
	for i, k := range keys {
		if it, ok := items[names[i]]; ok {
			if v, ok := unwrap(it, k, hashed[i]); ok {
				out[i] = v
			}
		}
	}
	return out, nil
}

// Set writes key for ttl, rounded up to whole seconds. A ttl that is not positive deletes the
// key.
func (b *Backend) Set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memcachedtier: %w", err)
	}
	if ttl <= 0 {
		return b.Delete(ctx, key)
	}
	it := wrap(key, data, ttl, time.Now())
	set := func() error {
		if err := b.c.Set(it); err != nil {
			return fmt.Errorf("memcachedtier: set: %w", err)
		}
		return nil
	}
	if b.trust {
		return set()
	}
	return released(ctx, ctxguard.Do(ctx, set))
}

// SetMany writes data[i] under keys[i] for ttls[i], BatchConcurrency sets at a time.
func (b *Backend) SetMany(ctx context.Context, keys []string, data [][]byte, ttls []time.Duration) error {
	if len(data) != len(keys) || len(ttls) != len(keys) {
		return fmt.Errorf("memcachedtier: SetMany of %d keys with %d values and %d TTLs", len(keys), len(data), len(ttls))
	}
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memcachedtier: %w", err)
	}
	if b.trust {
		return b.setMany(ctx, keys, data, ttls)
	}
	// Released at ctx's end, the batch still stops starting new sets: they check ctx.
	return released(ctx, ctxguard.Do(ctx, func() error { return b.setMany(ctx, keys, data, ttls) }))
}

func (b *Backend) setMany(ctx context.Context, keys []string, data [][]byte, ttls []time.Duration) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.conc)
	now := time.Now()
	// The last write of a key wins, as it would in one batch: skip the earlier ones, so that two
	// concurrent sets of one key cannot land in the wrong order.
	last := make(map[string]int, len(keys))
	for i, k := range keys {
		last[k] = i
	}
	for i, k := range keys {
		if last[k] != i {
			continue
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return fmt.Errorf("memcachedtier: %w", err)
			}
			if ttls[i] <= 0 {
				return b.delete(k)
			}
			if err := b.c.Set(wrap(k, data[i], ttls[i], now)); err != nil {
				return fmt.Errorf("memcachedtier: set: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Delete removes the keys, one delete each; missing keys are not an error.
func (b *Backend) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memcachedtier: %w", err)
	}
	if b.trust {
		return b.deleteAll(ctx, keys)
	}
	return released(ctx, ctxguard.Do(ctx, func() error { return b.deleteAll(ctx, keys) }))
}

// deleteAll deletes the keys one by one, stopping when ctx is done.
func (b *Backend) deleteAll(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memcachedtier: %w", err)
		}
		if err := b.delete(k); err != nil {
			return err
		}
	}
	return nil
}

// released names the package in the error of a guarded call that its context released (the
// guard returns ctx.Err() itself; the calls' own errors are already named).
func released(ctx context.Context, err error) error {
	if err != nil && (err == ctx.Err() || err == context.DeadlineExceeded) {
		return fmt.Errorf("memcachedtier: %w", err)
	}
	return err
}

func (b *Backend) delete(key string) error {
	name, _ := itemKey(key)
	if err := b.c.Delete(name); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return fmt.Errorf("memcachedtier: delete: %w", err)
	}
	return nil
}

// Keys and values.

const (
	// maxKeyLen is Memcached's key limit.
	maxKeyLen = 250
	// hashedPrefix starts the item key of a key stored by its hash.
	hashedPrefix = "strata:h:"
	// flagHashed marks an item stored under a hashed key, whose value starts with the full key.
	flagHashed = 1
	// maxRelative is the longest expiration Memcached reads as relative (30 days, in seconds).
	maxRelative = 30 * 24 * 60 * 60
)

// itemKey returns the Memcached key of key, and whether it is a hash.
func itemKey(key string) (string, bool) {
	if plain(key) {
		return key, false
	}
	sum := sha256.Sum256([]byte(key))
	return hashedPrefix + hex.EncodeToString(sum[:]), true
}

// plain reports whether key can be a Memcached key as it is: 1 to 250 bytes, printable ASCII,
// no space.
func plain(key string) bool {
	if len(key) == 0 || len(key) > maxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// wrap builds the item for key: for a hashed key the value starts with the key's length and the
// key.
func wrap(key string, data []byte, ttl time.Duration, now time.Time) *memcache.Item {
	name, hashed := itemKey(key)
	it := &memcache.Item{Key: name, Value: data, Expiration: expiration(ttl, now)}
	if hashed {
		v := make([]byte, 0, binary.MaxVarintLen64+len(key)+len(data))
		v = binary.AppendUvarint(v, uint64(len(key)))
		v = append(v, key...)
		it.Value = append(v, data...)
		it.Flags = flagHashed
	}
	return it
}

// unwrap returns the entry's bytes from an item read for key, or false when the item is not
// key's: a hashed item whose full key differs (a hash collision), or an item whose flags do not
// say how it was stored.
func unwrap(it *memcache.Item, key string, hashed bool) ([]byte, bool) {
	if !hashed {
		return it.Value, it.Flags == 0
	}
	if it.Flags != flagHashed {
		return nil, false
	}
	n, w := binary.Uvarint(it.Value)
	if w <= 0 || n != uint64(len(key)) || uint64(len(it.Value)-w) < n || string(it.Value[w:w+int(n)]) != key {
		return nil, false
	}
	return it.Value[w+int(n):], true
}

// expiration converts ttl to Memcached's expiration: seconds, rounded up, relative up to 30 days
// and an absolute Unix time beyond.
func expiration(ttl time.Duration, now time.Time) int32 {
	secs := int64(ttl / time.Second)
	if ttl%time.Second != 0 {
		secs++
	}
	if secs < 1 {
		secs = 1
	}
	if secs <= maxRelative {
		return int32(secs)
	}
	abs := now.Unix() + secs
	if abs > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(abs)
}
