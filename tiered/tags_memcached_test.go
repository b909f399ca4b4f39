package tiered_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/memcachedtest"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	memcachedtier "github.com/stratacache/strata/tiered/memcached"
)

// TestInvalidateTagsReportsTiersWithoutTagIndex: with Memcached (no tag index) between L1 and
// Redis, InvalidateTags removes every key some index knows from every tier, Memcached included,
// and says with ErrUnsupported, naming Memcached, that entries only Memcached holds may survive.
func TestInvalidateTagsReportsTiersWithoutTagIndex(t *testing.T) {
	ctx := context.Background()
	mc, err := memcachedtier.New(memcachedtest.Start(t).Client(t), memcachedtier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redistest.Shared(t).Client(t)
	l3 := newL2(t, rdb, "redis")
	ns := namespace(t)
	newCache := func(tiers ...tiered.Tier) *tiered.Cache {
		c, err := tiered.New(tiered.Options{Namespace: ns, Tiers: tiers})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	memcached := tiered.Tier{Backend: mc, Timeout: time.Second}
	redisTier := tiered.Tier{Backend: l3, Timeout: time.Second}
	c := newCache(tiered.Tier{Backend: newL1(t)}, memcached, redisTier)
	other := newCache(memcached, redisTier) // another instance: its keys are in Redis's index only
	alone := newCache(memcached)            // an instance whose tagged keys no index holds

	s := tiered.Custom(time.Minute)
	for _, w := range []struct {
		c    *tiered.Cache
		key  string
		tags []string
	}{
		{c, "a", []string{"t"}}, {c, "b", []string{"t", "u"}}, {c, "plain", nil},
		{other, "x", []string{"t"}}, {alone, "y", []string{"t"}},
	} {
		if err := w.c.Set(ctx, w.key, w.key, s, tiered.Tags(w.tags...)); err != nil {
			t.Fatal(err)
		}
	}

	err = c.InvalidateTags(ctx, "t")
	if !errors.Is(err, tiered.ErrUnsupported) || !strings.Contains(err.Error(), "memcached (L2)") || errors.Is(err, tiered.ErrTierUnavailable) {
		t.Fatalf("InvalidateTags over a Memcached tier = %v; want ErrUnsupported naming it", err)
	}
	inMemcached := func(key string) bool {
		_, ok, err := mc.Get(ctx, ns+key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, k := range []string{"a", "b", "x"} {
		if _, ok := tiered.L1Value(c, k); ok {
			t.Errorf("%s survived in L1", k)
		}
		if inMemcached(k) {
			t.Errorf("%s survived in Memcached", k)
		}
		if n, _ := rdb.Exists(ctx, ns+k).Result(); n != 0 {
			t.Errorf("%s survived in Redis", k)
		}
	}
	// What the error warns of: y, tagged where no index records it, is still in Memcached.
	if !inMemcached("y") || !inMemcached("plain") {
		t.Fatal("an entry outside the tag was removed, or y was found after all")
	}
	if s := c.Stats().Tiers[1]; s.Errors != 0 || s.Breaker != tiered.BreakerClosed {
		t.Fatalf("memcached tier after InvalidateTags: %+v", s)
	}

	// A cache whose byte tiers all keep an index reports nothing.
	indexed := newCache(tiered.Tier{Backend: newL1(t)}, redisTier)
	if err := indexed.Set(ctx, "z", "z", s, tiered.Tags("v")); err != nil {
		t.Fatal(err)
	}
	if err := indexed.InvalidateTags(ctx, "v"); err != nil {
		t.Fatalf("InvalidateTags without a tier lacking an index = %v", err)
	}
}
