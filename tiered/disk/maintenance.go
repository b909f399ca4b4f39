package disktier

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// chunkSize is how many entries a maintenance pass removes per batch; it holds their stripes only
// for the time of one batch, so writers of those keys wait at most that long.
const chunkSize = 256

// worker sweeps expired entries every SweepInterval and evicts when a write passes the bound.
func (b *Backend) worker() {
	defer b.workerWG.Done()
	t := time.NewTicker(b.sweepDur)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.maint.Lock()
			_, _ = b.removeWhile(context.Background(), b.expiredBefore(time.Now().UnixNano()), &b.expired)
			b.maint.Unlock()
		case <-b.kick:
			b.maint.Lock()
			_, _ = b.removeWhile(context.Background(), b.overBound, &b.evicted)
			b.maint.Unlock()
			b.roomMu.Lock()
			close(b.room)
			b.room = make(chan struct{})
			b.roomMu.Unlock()
		}
	}
}

// signal wakes the worker to evict.
func (b *Backend) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// waitRoom holds a write while the store is more than 10% over its bound, until the worker has
// made room or ctx is done.
func (b *Backend) waitRoom(ctx context.Context) error {
	for b.used.Load() > b.hard {
		b.roomMu.Lock()
		ch := b.room
		b.roomMu.Unlock()
		b.signal()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-b.stop:
			return ErrClosed
		}
	}
	return nil
}

// A pass condition tells, for the next index entry (in expiry order), whether to remove it, given
// the bytes the pass has already chosen to remove in the current chunk.
type passCond func(expiresAt int64, pending int64) bool

func (b *Backend) expiredBefore(now int64) passCond {
	return func(exp int64, _ int64) bool { return exp <= now }
}

func (b *Backend) overBound(_ int64, pending int64) bool {
	return b.used.Load()-pending > b.low
}

// removeWhile removes entries from the start of the expiry index while cond holds, a chunk at a
// time, and counts them in ctr. The caller holds b.maint.
func (b *Backend) removeWhile(ctx context.Context, cond passCond, ctr interface{ Add(uint64) uint64 }) (int, error) {
	total := 0
	for {
		if err := ctxErr(ctx); err != nil {
			return total, err
		}
		select {
		case <-b.stop:
			return total, nil
		default:
		}
		if !b.enter() {
			return total, ErrClosed
		}
		n, more, err := b.removeChunk(cond)
		b.leave()
		total += n
		ctr.Add(uint64(n))
		if err != nil {
			b.log.Warn("disktier: maintenance pass failed", "error", err)
			return total, err
		}
		if !more {
			return total, nil
		}
	}
}

type candidate struct {
	exp int64
	key string
}

// removeChunk removes up to chunkSize entries from the start of the index that satisfy cond. It
// reports whether there may be more.
func (b *Backend) removeChunk(cond passCond) (removed int, more bool, err error) {
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: indexStart, UpperBound: indexEnd})
	if err != nil {
		return 0, false, err
	}
	var (
		cands   []candidate
		bad     [][]byte // malformed index keys
		pending int64
	)
	for it.First(); it.Valid() && len(cands)+len(bad) < chunkSize; it.Next() {
		exp, key, ok := parseIndexKey(it.Key())
		v, verr := it.ValueAndErr()
		if !ok || verr != nil || len(v) != indexValueLen {
			bad = append(bad, append([]byte(nil), it.Key()...))
			continue
		}
		if !cond(exp, pending) {
			break
		}
		cands = append(cands, candidate{exp: exp, key: string(key)})
		pending += entrySize(len(key), int(binary.BigEndian.Uint32(v)))
	}
	more = it.Valid() && len(cands)+len(bad) == chunkSize
	if err := it.Close(); err != nil {
		return 0, false, err
	}
	if len(cands) == 0 && len(bad) == 0 {
		return 0, false, nil
	}
	keys := make([]string, len(cands))
	for i, c := range cands {
		keys[i] = c.key
	}
	ids := stripeIDs(keys)
	_ = b.lockStripes(context.Background(), ids)
	defer b.unlockStripes(ids)
	batch := b.db.NewBatch()
	defer batch.Close()
	var delta, dn int64
	var kb []byte
	for _, k := range bad {
		_ = batch.Delete(k, nil)
	}
	for _, c := range cands {
		exp, n, state, err := b.current(c.key)
		if err != nil {
			return 0, false, err
		}
		kb = indexKey(kb[:0], c.exp, c.key)
		_ = batch.Delete(kb, nil)
		if state != present || exp != c.exp {
			continue // the key was rewritten or deleted since the index was read
		}
		kb = dataKey(kb[:0], c.key)
		_ = batch.Delete(kb, nil)
		delta -= entrySize(len(c.key), n)
		dn--
		removed++
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return 0, false, err
	}
	b.used.Add(delta)
	b.entries.Add(dn)
	return removed, more, nil
}

// Compact removes expired entries, evicts down to the bound if the store is over it, flushes the
// memtable and compacts the whole store, so that the space of removed entries is given back to
// the file system. Pebble compacts on its own as data arrives; call Compact to reclaim space now
// (after a large invalidation, or before measuring the directory). It may take a while on a large
// store and stops early when ctx is done. It returns once Pebble has deleted the files the
// compaction made obsolete.
func (b *Backend) Compact(ctx context.Context) error {
	b.maint.Lock()
	defer b.maint.Unlock()
	if _, err := b.removeWhile(ctx, b.expiredBefore(time.Now().UnixNano()), &b.expired); err != nil {
		return err
	}
	if b.used.Load() > b.target {
		if _, err := b.removeWhile(ctx, b.overBound, &b.evicted); err != nil {
			return err
		}
	}
	if !b.enter() {
		return ErrClosed
	}
	defer b.leave()
	if err := b.db.Flush(); err != nil {
		return fmt.Errorf("disktier: flush: %w", err)
	}
	if err := b.db.Compact(ctx, dataStart, indexEnd, true); err != nil {
		return fmt.Errorf("disktier: compact: %w", err)
	}
	// Pebble deletes the files a compaction made obsolete in the background: wait for it, so
	// that the directory has shrunk when Compact returns.
	for {
		m := b.db.Metrics()
		if m.Table.Local.ObsoleteSize+m.Table.Local.ZombieSize == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
