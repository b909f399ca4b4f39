package disktier

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// The store's key space, in one Pebble keyspace:
//
//	'd' key                  → expires-at (8 bytes, Unix ns, big endian) + the entry's bytes
//	'x' expires-at (8) key   → the entry's length (4 bytes, big endian)
//	'm' "layout"             → layoutVersion
//
// The 'x' index sorts entries by expiry: the sweep reads it up to now, eviction from its start.
// An entry and its index entry are always written and deleted in one batch.
const (
	prefixData  = 'd'
	prefixIndex = 'x'
	prefixMeta  = 'm'

	layoutVersion = 1
	dataHeader    = 8
	indexValueLen = 4

	// entryOverhead is what an entry costs beyond its key (stored twice) and value: the two
	// records' headers and Pebble's per-key trailers and block entries.
	entryOverhead = 1 + dataHeader + 1 + 8 + indexValueLen + 2*16
)

var metaLayoutKey = []byte{prefixMeta, 'l', 'a', 'y', 'o', 'u', 't'}

// entrySize is what one entry counts against MaxBytes.
func entrySize(keyLen, valueLen int) int64 {
	return int64(2*keyLen+valueLen) + entryOverhead
}

func dataKey(dst []byte, key string) []byte {
	dst = append(dst, prefixData)
	return append(dst, key...)
}

func indexKey(dst []byte, expiresAt int64, key string) []byte {
	dst = append(dst, prefixIndex)
	dst = binary.BigEndian.AppendUint64(dst, uint64(expiresAt))
	return append(dst, key...)
}

// parseIndexKey splits an index key into the entry's expiry and key.
func parseIndexKey(k []byte) (expiresAt int64, key []byte, ok bool) {
	if len(k) < 9 || k[0] != prefixIndex {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(k[1:9])), k[9:], true
}

// parseRecord splits a data record into its expiry and the entry's bytes.
func parseRecord(v []byte) (expiresAt int64, data []byte, ok bool) {
	if len(v) < dataHeader {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(v)), v[dataHeader:], true
}

func appendRecord(dst []byte, expiresAt int64, data []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(expiresAt))
	return append(dst, data...)
}

func indexValue(n int) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 0, indexValueLen), uint32(n))
}

// expiry returns now + ttl in Unix nanoseconds, saturated.
func expiry(now int64, ttl int64) int64 {
	if ttl > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + ttl
}

// prefixEnd returns the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

var (
	dataStart  = []byte{prefixData}
	dataEnd    = []byte{prefixData + 1}
	indexStart = []byte{prefixIndex}
	indexEnd   = []byte{prefixIndex + 1}
)

// errForeign is returned when the directory holds a Pebble store this package did not create.
var errForeign = errors.New("the directory holds a Pebble store of another program")

// checkLayout marks a new store with the layout version, and refuses a store of another layout
// or another program.
func (b *Backend) checkLayout() error {
	v, closer, err := b.db.Get(metaLayoutKey)
	switch {
	case err == nil:
		defer closer.Close()
		if len(v) != 1 || v[0] != layoutVersion {
			return fmt.Errorf("unknown store layout %x (this version reads %d)", v, layoutVersion)
		}
		return nil
	case !errors.Is(err, pebble.ErrNotFound):
		return err
	}
	it, err := b.db.NewIter(nil)
	if err != nil {
		return err
	}
	empty := !it.First()
	if err := it.Close(); err != nil {
		return err
	}
	if !empty {
		return errForeign
	}
	return b.db.Set(metaLayoutKey, []byte{layoutVersion}, pebble.Sync)
}

// count sets the entry and byte counters from the index (which is small: keys and lengths).
func (b *Backend) count() error {
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: indexStart, UpperBound: indexEnd})
	if err != nil {
		return err
	}
	var used, n int64
	for it.First(); it.Valid(); it.Next() {
		_, key, ok := parseIndexKey(it.Key())
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		if !ok || len(v) != indexValueLen {
			// Not written by this package; the next maintenance pass removes it.
			b.log.Warn("disktier: malformed index entry skipped")
			continue
		}
		used += entrySize(len(key), int(binary.BigEndian.Uint32(v)))
		n++
	}
	if err := it.Close(); err != nil {
		return err
	}
	b.used.Store(used)
	b.entries.Store(n)
	return nil
}

// Striped write locks: writers of one key, and the maintenance passes that remove it, hold the
// key's stripe while they read its current record and commit their batch, so that the index and
// the counters always agree with the data.
const stripeCount = 512

var stripeSeed = maphash.MakeSeed()

func stripeOf(key string) int {
	return int(maphash.String(stripeSeed, key) % stripeCount)
}
