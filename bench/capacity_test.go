package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// errGone is the source's answer while the entries are counted: an error, which no library
// caches, so that reading back the entries does not write any.
var errGone = errors.New("not in the cache")

// TestL1Capacity checks that every in-process tier is built to keep l1Entries entries, by
// counting hits: it writes l1Entries records, then reads them all back through the library's
// get-or-load call with a source that fails, and counts the reads the source had to answer.
// jetcache-go's TinyLFU built as its documentation shows, local.NewTinyLFU(10_000, ...), is
// counted too: it keeps about 175. sturdyc keeps about 96 %: its capacity is split evenly between
// its shards, keys are not, and a shard that reaches its share evicts 10 % of its entries.
func TestL1Capacity(t *testing.T) {
	type build func(src source) (stack, error)
	l1Only := func(src source) setup { return setup{l1: true, src: src} }
	cases := []struct {
		name    string
		build   build
		atLeast int // hits required out of l1Entries
		atMost  int
	}{
		{"strata", func(src source) (stack, error) { return newStrata(l1Only(src)) }, l1Entries, l1Entries},
		{"otter", func(src source) (stack, error) { return newOtter(src), nil }, l1Entries, l1Entries},
		{"go-redis/cache", func(src source) (stack, error) { return newGoredisCache(l1Only(src)), nil }, l1Entries * 99 / 100, l1Entries},
		{"jetcache-go (sized)", func(src source) (stack, error) { return newJetcache(l1Only(src), jetcacheTinyLFUSize), nil }, l1Entries * 99 / 100, l1Entries},
		{"jetcache-go NewTinyLFU(10000)", func(src source) (stack, error) { return newJetcache(l1Only(src), l1Entries), nil }, 0, l1Entries / 20},
		{"gocache chain", func(src source) (stack, error) { return newGocache(l1Only(src)) }, l1Entries * 99 / 100, l1Entries},
		{"gocache local", func(src source) (stack, error) { return newGocacheLocal(src) }, l1Entries * 99 / 100, l1Entries},
		{"sturdyc", func(src source) (stack, error) { return newSturdyc(src), nil }, l1Entries * 90 / 100, l1Entries * 99 / 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var loads atomic.Int64
			s, err := tc.build(func(context.Context, string) (Record, error) {
				loads.Add(1)
				return Record{}, errGone
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			ctx := context.Background()
			for i := range int64(l1Entries) {
				if err := s.set(ctx, key(i), recordOf(i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range int64(l1Entries) {
				v, err := s.load(ctx, key(i))
				if errors.Is(err, errGone) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if v.ID != i {
					t.Fatalf("key %d: got record %d", i, v.ID)
				}
			}
			hits := l1Entries - int(loads.Load())
			t.Logf("%s keeps %d of %d entries", tc.name, hits, l1Entries)
			if hits < tc.atLeast || hits > tc.atMost {
				t.Errorf("%s keeps %d of %d entries, want [%d, %d]", tc.name, hits, l1Entries, tc.atLeast, tc.atMost)
			}
		})
	}
}
