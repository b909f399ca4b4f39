package disktier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// ErrTooLarge is returned by a write of an entry larger than a sixteenth of MaxBytes: keeping it
// would evict a large part of the store.
var ErrTooLarge = errors.New("disktier: entry too large for the store's bound")

// Get returns the bytes stored under key, unless they have expired. It checks its context before
// reading; the read itself waits only for the device (unless Options.Guarded).
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, false, err
	}
	if !b.guarded {
		return b.getEntered(key)
	}
	type got struct {
		v  []byte
		ok bool
	}
	r, err := guarded(ctx, b, func() (got, error) {
		v, ok, err := b.getEntered(key)
		return got{v, ok}, err
	})
	return r.v, r.ok, err
}

func (b *Backend) getEntered(key string) ([]byte, bool, error) {
	if !b.enter() {
		return nil, false, ErrClosed
	}
	defer b.leave()
	if h := readHook.Load(); h != nil {
		(*h)()
	}
	return b.get(key, time.Now().UnixNano())
}

func (b *Backend) get(key string, now int64) ([]byte, bool, error) {
	v, closer, err := b.db.Get(dataKey(make([]byte, 0, 1+len(key)), key)) // Pebble keeps the key: it escapes
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("disktier: get: %w", err)
	}
	exp, data, ok := parseRecord(v)
	if !ok || exp <= now {
		_ = closer.Close()
		return nil, false, nil
	}
	out := make([]byte, len(data))
	copy(out, data)
	_ = closer.Close()
	return out, true, nil
}

// GetMany reads many keys; the result has one element per key, nil for a miss or an expired entry.
func (b *Backend) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	return guarded(ctx, b, func() ([][]byte, error) { return b.getMany(ctx, keys) })
}

func (b *Backend) getMany(ctx context.Context, keys []string) ([][]byte, error) {
	if !b.enter() {
		return nil, ErrClosed
	}
	defer b.leave()
	if h := readHook.Load(); h != nil {
		(*h)()
	}
	out := make([][]byte, len(keys))
	now := time.Now().UnixNano()
	for i, k := range keys {
		if i%64 == 63 {
			if err := ctxErr(ctx); err != nil {
				return nil, err
			}
		}
		v, ok, err := b.get(k, now)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i] = v
		}
	}
	return out, nil
}

// Set stores data under key until ttl from now. A ttl that is not positive deletes the key.
func (b *Backend) Set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return b.Delete(ctx, key)
	}
	return b.guard(ctx, func() error { return b.write(ctx, []string{key}, [][]byte{data}, []time.Duration{ttl}) })
}

// SetMany stores data[i] under keys[i] for ttls[i], in one atomic batch. When a key appears more
// than once, its last entry wins; an entry with a ttl that is not positive deletes its key. An
// entry too large for the store fails the whole batch with ErrTooLarge, and nothing is written.
func (b *Backend) SetMany(ctx context.Context, keys []string, data [][]byte, ttls []time.Duration) error {
	if len(data) != len(keys) || len(ttls) != len(keys) {
		return fmt.Errorf("disktier: SetMany of %d keys with %d values and %d TTLs", len(keys), len(data), len(ttls))
	}
	if len(keys) == 0 {
		return nil
	}
	return b.guard(ctx, func() error { return b.write(ctx, keys, data, ttls) })
}

// Delete removes the keys; missing keys are not an error.
func (b *Backend) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return b.guard(ctx, func() error { return b.write(ctx, keys, make([][]byte, len(keys)), make([]time.Duration, len(keys))) })
}

// write applies sets (ttl > 0) and deletes (ttl <= 0) of keys in one batch. It holds the keys'
// stripes while it reads their current records and until the batch is committed, so that it
// removes exactly the index entries of the records it replaces and the counters stay exact.
//
// The commit runs on its own goroutine: a write stalled inside Pebble (memtables full while a
// flush catches up) releases its caller when ctx is done, and completes later; Close waits for it.
func (b *Backend) write(ctx context.Context, keys []string, data [][]byte, ttls []time.Duration) error {
	for i, d := range data {
		if ttls[i] > 0 && entrySize(len(keys[i]), len(d)) > b.max/16 {
			return fmt.Errorf("%w: %d bytes under a bound of %d", ErrTooLarge, len(d), b.max)
		}
	}
	if err := b.waitRoom(ctx); err != nil {
		return err
	}
	if !b.enter() {
		return ErrClosed
	}
	ids := stripeIDs(keys)
	if err := b.lockStripes(ctx, ids); err != nil {
		b.leave()
		return err
	}
	batch, delta, dn, err := b.prepare(keys, data, ttls)
	if err != nil {
		b.unlockStripes(ids)
		b.leave()
		return err
	}
	done := make(chan error, 1)
	go func() {
		if h := commitHook.Load(); h != nil {
			(*h)()
		}
		err := batch.Commit(pebble.Sync)
		_ = batch.Close()
		if err == nil {
			b.used.Add(delta)
			b.entries.Add(dn)
		}
		b.unlockStripes(ids)
		over := b.used.Load() > b.target
		b.leave()
		if over {
			b.signal()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("disktier: write: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctxErr(ctx)
	}
}

// prepare builds the batch of a write; the caller holds the keys' stripes.
func (b *Backend) prepare(keys []string, data [][]byte, ttls []time.Duration) (batch *pebble.Batch, delta, dn int64, err error) {
	batch = b.db.NewBatch()
	now := time.Now().UnixNano()
	last := make(map[string]int, len(keys)) // a key written twice: the last write wins
	if len(keys) > 1 {
		for i, k := range keys {
			last[k] = i
		}
	}
	var kb, vb []byte
	for i, k := range keys {
		if len(keys) > 1 && last[k] != i {
			continue
		}
		oldExp, oldLen, state, err := b.current(k)
		if err != nil {
			_ = batch.Close()
			return nil, 0, 0, err
		}
		if state == malformed {
			kb = dataKey(kb[:0], k)
			_ = batch.Delete(kb, nil)
		}
		if state == present {
			kb = dataKey(kb[:0], k)
			_ = batch.Delete(kb, nil)
			kb = indexKey(kb[:0], oldExp, k)
			_ = batch.Delete(kb, nil)
			delta -= entrySize(len(k), oldLen)
			dn--
		}
		if ttls[i] <= 0 {
			continue
		}
		exp := expiry(now, int64(ttls[i]))
		kb = dataKey(kb[:0], k)
		vb = appendRecord(vb[:0], exp, data[i])
		_ = batch.Set(kb, vb, nil) // the batch copies key and value
		kb = indexKey(kb[:0], exp, k)
		_ = batch.Set(kb, indexValue(len(data[i])), nil)
		delta += entrySize(len(k), len(data[i]))
		dn++
	}
	return batch, delta, dn, nil
}

// recordState says what current found under a key.
type recordState uint8

const (
	absent    recordState = iota
	present               // a record, with its index entry
	malformed             // bytes that are not a record (and have no index entry)
)

// current returns the expiry and value length of the record under key, if any.
func (b *Backend) current(key string) (expiresAt int64, n int, state recordState, err error) {
	v, closer, err := b.db.Get(dataKey(make([]byte, 0, 1+len(key)), key))
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return 0, 0, absent, nil
		}
		return 0, 0, absent, fmt.Errorf("disktier: read: %w", err)
	}
	defer closer.Close()
	exp, data, ok := parseRecord(v)
	if !ok {
		return 0, 0, malformed, nil
	}
	return exp, len(data), present, nil
}

// commitHook, when set (by tests), runs before every write is committed, on the goroutine that
// commits it: a test holds it to stall writes.
var commitHook atomic.Pointer[func()]

// readHook, when set (by tests), runs before every Get and GetMany reads the store: a test holds
// it to stand for a device that stopped answering.
var readHook atomic.Pointer[func()]

// stripeIDs returns the sorted distinct stripes of keys.
func stripeIDs(keys []string) []int {
	if len(keys) == 1 {
		return []int{stripeOf(keys[0])}
	}
	ids := make([]int, len(keys))
	for i, k := range keys {
		ids[i] = stripeOf(k)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// lockStripes takes the stripes ids (sorted, so that two lockers never wait on each other in a
// cycle), giving up with ctx.
func (b *Backend) lockStripes(ctx context.Context, ids []int) error {
	for n, id := range ids {
		select {
		case b.stripes[id] <- struct{}{}:
		default:
			select {
			case b.stripes[id] <- struct{}{}:
			case <-ctx.Done():
				b.unlockStripes(ids[:n])
				return ctxErr(ctx)
			}
		}
	}
	return nil
}

func (b *Backend) unlockStripes(ids []int) {
	for _, id := range ids {
		<-b.stripes[id]
	}
}
