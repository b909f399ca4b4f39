package disktier_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stratacache/strata/tiered"
	disktier "github.com/stratacache/strata/tiered/disk"
)

// rawCodec hands byte slices through unchanged, so that the benchmarks measure the tier and the
// cache, not a codec.
type rawCodec struct{}

func (rawCodec) Name() string { return "raw" }
func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return b, nil
}
func (rawCodec) Unmarshal(data []byte, p any) error {
	*p.(*[]byte) = data
	return nil
}

const (
	benchKeys  = 10_000
	benchValue = 1024
)

// hitFixture is a disk tier holding benchKeys entries written by a cache (L1 off), compacted into
// tables. The baseline reads the same records from the same Pebble database with Pebble's own Get,
// so both read paths see one LSM and one block cache.
type hitFixture struct {
	disk  *disktier.Backend
	cache *tiered.Cache
	raw   *pebble.DB
	keys  []string
	rawKs [][]byte
}

func newHitFixture(b *testing.B) *hitFixture {
	b.Helper()
	ctx := context.Background()
	disk, _ := open(b, disktier.Options{})
	c, err := tiered.New(tiered.Options{Codec: rawCodec{}, Tiers: []tiered.Tier{{Backend: disk, Timeout: time.Second}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	f := &hitFixture{disk: disk, cache: c, raw: disk.DB()}
	rng := rand.New(rand.NewPCG(1, 1))
	value := make([]byte, benchValue)
	for i := range benchKeys {
		fillRandom(rng, value)
		k := fmt.Sprintf("bench:item:%06d", i)
		if err := c.Set(ctx, k, value, tiered.Custom(time.Hour)); err != nil {
			b.Fatal(err)
		}
		f.keys = append(f.keys, k)
		f.rawKs = append(f.rawKs, disktier.DataKey(k))
	}
	if err := disk.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	return f
}

func (f *hitFixture) strataHit(b *testing.B, i int) {
	v, found, err := tiered.Get[[]byte](context.Background(), f.cache, f.keys[i%benchKeys])
	if !found || err != nil || len(v) != benchValue {
		b.Fatalf("strata hit: %v %v %d", found, err, len(v))
	}
}

// rawGet reads the record of an entry with Pebble's Get and does the least a caller does to use
// a value after the read: copy it out before releasing Pebble's buffer.
func (f *hitFixture) rawGet(b *testing.B, i int) {
	v, closer, err := f.raw.Get(f.rawKs[i%benchKeys])
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, len(v))
	copy(out, v)
	_ = closer.Close()
}

// BenchmarkPebbleBaseline reads the bytes of disk-tier entries with a plain Pebble Get.
func BenchmarkPebbleBaseline(b *testing.B) {
	f := newHitFixture(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.rawGet(b, i)
	}
}

// BenchmarkDiskHit reads through a tiered.Cache whose only tier is the disk tier (L1 off), in
// blocks that rotate with plain Pebble reads of the same bytes and with direct calls of the
// tier's Get, and reports the three and the ratios to Pebble measured in the same run: x-pebble
// for the cache, tier-x-pebble for the tier alone.
func BenchmarkDiskHit(b *testing.B) {
	f := newHitFixture(b)
	const block = 256
	var total [3]time.Duration // strata, pebble, tier
	gets := [3]func(*testing.B, int){f.strataHit, f.rawGet, f.tierGet}
	n := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range 3 { // rotate which goes first
			w := (i + j) % 3
			t0 := time.Now()
			for r := range block {
				gets[w](b, n+r)
			}
			total[w] += time.Since(t0)
		}
		n += block
	}
	reads := float64(b.N * block)
	b.ReportMetric(float64(total[0])/reads, "strata-ns/hit")
	b.ReportMetric(float64(total[1])/reads, "pebble-ns/get")
	b.ReportMetric(float64(total[2])/reads, "tier-ns/get")
	b.ReportMetric(float64(total[0])/float64(total[1]), "x-pebble")
	b.ReportMetric(float64(total[2])/float64(total[1]), "tier-x-pebble")
}

// BenchmarkDiskRestart measures restart to first hit: opening a closed store of 100,000 entries
// of 1 KiB and reading one entry.
func BenchmarkDiskRestart(b *testing.B) {
	const entries = 100_000
	ctx := context.Background()
	dir := b.TempDir()
	d, err := disktier.Open(dir, disktier.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	value := make([]byte, benchValue)
	keys := make([]string, 0, 1000)
	data := make([][]byte, 0, 1000)
	ttls := make([]time.Duration, 0, 1000)
	for i := range entries {
		fillRandom(rng, value)
		keys = append(keys, fmt.Sprintf("restart:%07d", i))
		data = append(data, append([]byte(nil), value...))
		ttls = append(ttls, time.Hour)
		if len(keys) == cap(keys) {
			if err := d.SetMany(ctx, keys, data, ttls); err != nil {
				b.Fatal(err)
			}
			keys, data, ttls = keys[:0], data[:0], ttls[:0]
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := disktier.Open(dir, disktier.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, ok, err := d.Get(ctx, fmt.Sprintf("restart:%07d", rng.IntN(entries))); !ok || err != nil {
			b.Fatalf("first read after restart: %v %v", ok, err)
		}
		b.StopTimer()
		if s := d.Stats(); s.Entries != entries {
			b.Fatalf("reopened with %d entries", s.Entries)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/restart")
}

// BenchmarkDiskBound writes three times MaxBytes of incompressible 4 KiB values, compacts, and
// reports the directory's size and the live entries' count against MaxBytes.
func BenchmarkDiskBound(b *testing.B) {
	const max = 64 << 20
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		d, dir := open(b, disktier.Options{MaxBytes: max})
		rng := rand.New(rand.NewPCG(3, uint64(i)))
		value := make([]byte, 4096)
		for j := range 3 * max / len(value) {
			fillRandom(rng, value)
			if err := d.Set(ctx, key(j), value, time.Hour+time.Duration(rng.IntN(3600))*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.Compact(ctx); err != nil {
			b.Fatal(err)
		}
		s := d.Stats()
		size := dirSize(b, dir)
		b.ReportMetric(float64(size)/max, "dir/MaxBytes")
		b.ReportMetric(float64(s.LiveBytes)/max, "live/MaxBytes")
		b.ReportMetric(float64(s.Entries), "entries")
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// tierGet calls the disk tier's Get directly, without the cache.
func (f *hitFixture) tierGet(b *testing.B, i int) {
	_, ok, err := f.disk.Get(context.Background(), f.keys[i%benchKeys])
	if !ok || err != nil {
		b.Fatal(ok, err)
	}
}
