package disktier

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stratacache/strata/internal/glob"
)

// DeletePattern removes every key matching the Redis glob pattern (the syntax of
// tiered.Cache.InvalidatePattern, matched exactly as Redis does) and returns how many it
// removed. It reads only the keys that start with the pattern's literal prefix (everything
// before its first "*", "?" or "["), so a namespaced pattern costs time in proportion to the
// namespace. Keys written while it runs may survive it.
func (b *Backend) DeletePattern(ctx context.Context, pattern string) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	return guarded(ctx, b, func() (int, error) { return b.deletePattern(ctx, pattern) })
}

func (b *Backend) deletePattern(ctx context.Context, pattern string) (int, error) {
	if !b.enter() {
		return 0, ErrClosed
	}
	defer b.leave()
	lower := append([]byte{prefixData}, literalPrefix(pattern)...)
	upper := prefixEnd(lower)
	if upper == nil || upper[0] != prefixData {
		upper = dataEnd
	}
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, fmt.Errorf("disktier: %w", err)
	}
	defer it.Close()
	removed := 0
	keys := make([]string, 0, chunkSize)
	for valid := it.First(); ; {
		keys = keys[:0]
		for ; valid && len(keys) < chunkSize; valid = it.Next() {
			if k := string(it.Key()[1:]); glob.Match(pattern, k) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			n, err := b.removeKeys(ctx, keys)
			removed += n
			if err != nil {
				return removed, err
			}
		}
		if !valid {
			break
		}
		if err := ctxErr(ctx); err != nil {
			return removed, err
		}
	}
	if err := it.Error(); err != nil {
		return removed, fmt.Errorf("disktier: %w", err)
	}
	return removed, nil
}

// removeKeys deletes keys with their index entries and reports how many existed.
func (b *Backend) removeKeys(ctx context.Context, keys []string) (int, error) {
	ids := stripeIDs(keys)
	if err := b.lockStripes(ctx, ids); err != nil {
		return 0, err
	}
	defer b.unlockStripes(ids)
	batch := b.db.NewBatch()
	defer batch.Close()
	var (
		kb        []byte
		delta, dn int64
		n         int
	)
	for _, k := range keys {
		exp, size, state, err := b.current(k)
		if err != nil {
			return 0, err
		}
		if state == absent {
			continue
		}
		kb = dataKey(kb[:0], k)
		_ = batch.Delete(kb, nil)
		n++
		if state == present {
			kb = indexKey(kb[:0], exp, k)
			_ = batch.Delete(kb, nil)
			delta -= entrySize(len(k), size)
			dn--
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("disktier: delete: %w", err)
	}
	b.used.Add(delta)
	b.entries.Add(dn)
	return n, nil
}

// Clear removes every entry of the store (whatever the namespace: the store belongs to one
// cache). Writes wait while it runs.
func (b *Backend) Clear(ctx context.Context) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return b.guard(ctx, func() error { return b.clear(ctx) })
}

func (b *Backend) clear(ctx context.Context) error {
	if !b.enter() {
		return ErrClosed
	}
	defer b.leave()
	all := make([]int, stripeCount)
	for i := range all {
		all[i] = i
	}
	if err := b.lockStripes(ctx, all); err != nil {
		return err
	}
	defer b.unlockStripes(all)
	batch := b.db.NewBatch()
	defer batch.Close()
	_ = batch.DeleteRange(dataStart, dataEnd, nil)
	_ = batch.DeleteRange(indexStart, indexEnd, nil)
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("disktier: clear: %w", err)
	}
	b.used.Store(0)
	b.entries.Store(0)
	return nil
}

// literalPrefix returns the bytes every key matching pattern starts with: the pattern up to its
// first "*", "?" or "[", with "\x" read as x.
func literalPrefix(pattern string) []byte {
	var out []byte
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?', '[':
			return out
		case '\\':
			if i+1 == len(pattern) {
				return out // a trailing lone backslash: let the matcher decide
			}
			i++
			out = append(out, pattern[i])
		default:
			out = append(out, c)
		}
	}
	return out
}
