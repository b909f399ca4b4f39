package disktier

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// SetCommitHook makes every write run f before it is committed, until restore is called.
func SetCommitHook(f func()) (restore func()) {
	commitHook.Store(&f)
	return func() { commitHook.Store(nil) }
}

// SetReadHook makes every Get and GetMany run f before it reads the store, until restore is
// called.
func SetReadHook(f func()) (restore func()) {
	readHook.Store(&f)
	return func() { readHook.Store(nil) }
}

// SetBootID makes the store see id as the machine's boot id, until restore is called.
func SetBootID(id string) (restore func()) {
	old := bootID
	bootID = func() string { return id }
	return func() { bootID = old }
}

// Recount walks the data records, checks that each has its index entry and that the index has
// no other entries, and returns what the counters should say, with the counters read at the same
// moment. It holds off the maintenance passes; the caller must not write meanwhile.
func (b *Backend) Recount() (used, entries int64, counted Stats, err error) {
	b.maint.Lock()
	defer b.maint.Unlock()
	if !b.enter() {
		return 0, 0, counted, ErrClosed
	}
	defer b.leave()
	counted = Stats{Entries: b.entries.Load(), LiveBytes: b.used.Load()}
	snap := b.db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: dataStart, UpperBound: dataEnd})
	if err != nil {
		return 0, 0, counted, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		key := string(it.Key()[1:])
		exp, data, ok := parseRecord(it.Value())
		if !ok {
			return 0, 0, counted, fmt.Errorf("malformed record under %q", key)
		}
		if _, c, err := snap.Get(indexKey(nil, exp, key)); err != nil {
			return 0, 0, counted, fmt.Errorf("record %q has no index entry: %w", key, err)
		} else {
			c.Close()
		}
		used += entrySize(len(key), len(data))
		entries++
	}
	ix, err := snap.NewIter(&pebble.IterOptions{LowerBound: indexStart, UpperBound: indexEnd})
	if err != nil {
		return 0, 0, counted, err
	}
	defer ix.Close()
	var n int64
	for ix.First(); ix.Valid(); ix.Next() {
		n++
	}
	if n != entries {
		return 0, 0, counted, fmt.Errorf("%d index entries for %d records", n, entries)
	}
	return used, entries, counted, nil
}

// DB returns the store's Pebble database, for benchmarks that read it directly.
func (b *Backend) DB() *pebble.DB { return b.db }

// DataKey returns the Pebble key under which the store keeps key.
func DataKey(key string) []byte { return dataKey(nil, key) }
