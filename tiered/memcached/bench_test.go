package memcachedtier

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/stratacache/strata/internal/memcachedtest"
	"github.com/stratacache/strata/tiered"
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
	benchKeys  = 1000
	benchValue = 1024
)

// hitFixture is a memcached holding benchKeys entries written through a cache whose only tier is
// Memcached; the baseline reads the very same items with gomemcache's Get.
type hitFixture struct {
	cache *tiered.Cache
	tier  *Backend
	raw   *memcache.Client
	// ctx has a deadline, as every context the cache hands a tier has: a guarded tier called
	// with it runs the client call on a goroutine of its own (with context.Background it would
	// call the client directly).
	ctx  context.Context
	keys []string
}

func newHitFixture(b *testing.B, o Options, clientTimeout ...time.Duration) *hitFixture {
	b.Helper()
	srv := memcachedtest.Start(b)
	client := srv.Client(b)
	if len(clientTimeout) > 0 {
		client.Timeout = clientTimeout[0]
	}
	tier, err := New(client, o)
	if err != nil {
		b.Fatal(err)
	}
	c, err := tiered.New(tiered.Options{Codec: rawCodec{}, Tiers: []tiered.Tier{{Backend: tier, Timeout: time.Second}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	deadline, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	f := &hitFixture{cache: c, tier: tier, raw: srv.Client(b), ctx: deadline}
	rng := rand.New(rand.NewPCG(1, 1))
	value := make([]byte, benchValue)
	ctx := context.Background()
	for i := range benchKeys {
		for j := range value {
			value[j] = byte(rng.Uint32())
		}
		k := fmt.Sprintf("bench:item:%06d", i)
		if err := c.Set(ctx, k, value, tiered.Custom(time.Hour)); err != nil {
			b.Fatal(err)
		}
		f.keys = append(f.keys, k)
	}
	return f
}

func (f *hitFixture) strataHit(b *testing.B, i int) {
	v, found, err := tiered.Get[[]byte](context.Background(), f.cache, f.keys[i%benchKeys])
	if !found || err != nil || len(v) != benchValue {
		b.Fatalf("strata hit: %v %v %d", found, err, len(v))
	}
}

func (f *hitFixture) rawGet(b *testing.B, i int) {
	it, err := f.raw.Get(f.keys[i%benchKeys])
	if err != nil || len(it.Value) < benchValue {
		b.Fatal(err)
	}
}

func (f *hitFixture) tierGet(b *testing.B, i int) {
	if _, ok, err := f.tier.Get(f.ctx, f.keys[i%benchKeys]); !ok || err != nil {
		b.Fatal(ok, err)
	}
}

// BenchmarkMemcachedBaseline reads the items strata stored with a plain gomemcache Get.
func BenchmarkMemcachedBaseline(b *testing.B) {
	f := newHitFixture(b, Options{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.rawGet(b, i)
	}
}

// BenchmarkMemcachedHit reads through a tiered.Cache whose only tier is Memcached (L1 off), in
// blocks that rotate with plain gomemcache reads of the same items and with direct calls of the
// tier's Get, and reports the three and the ratios to gomemcache measured in the same run:
// x-gomemcache for the cache, tier-x-gomemcache for the tier alone. The tier runs each client
// call on a goroutine of its own (guarded, the default) or calls the client directly
// (TrustClientTimeout).
func BenchmarkMemcachedHit(b *testing.B) {
	b.Run("guarded", func(b *testing.B) { benchHit(b, Options{}) })
	b.Run("trust-client-timeout", func(b *testing.B) { benchHit(b, Options{TrustClientTimeout: true}) })
	// The client's Timeout at most half the tier's: a read with a context that cannot be
	// cancelled is called directly (the client ends it before the tier's deadline).
	b.Run("guarded-client-timeout-half", func(b *testing.B) { benchHit(b, Options{}, 400*time.Millisecond) })
}

func benchHit(b *testing.B, o Options, clientTimeout ...time.Duration) {
	f := newHitFixture(b, o, clientTimeout...)
	const block = 64
	var total [3]time.Duration // strata, gomemcache, tier
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
	b.ReportMetric(float64(total[1])/reads, "gomemcache-ns/get")
	b.ReportMetric(float64(total[2])/reads, "tier-ns/get")
	b.ReportMetric(float64(total[0])/float64(total[1]), "x-gomemcache")
	b.ReportMetric(float64(total[2])/float64(total[1]), "tier-x-gomemcache")
}
