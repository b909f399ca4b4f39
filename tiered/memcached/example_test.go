package memcachedtier_test

import (
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/stratacache/strata/tiered"
	memcachedtier "github.com/stratacache/strata/tiered/memcached"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// Memcached below the in-process L1. The client's Timeout bounds each call on the socket; the
// tier's Timeout bounds what a caller waits.
func ExampleNew() {
	mc := memcache.New("127.0.0.1:11211")
	mc.Timeout = 100 * time.Millisecond
	mc.MaxIdleConns = 16
	defer mc.Close()

	l1, err := ottertier.New(ottertier.Options{MaxBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer l1.Close()
	l2, err := memcachedtier.New(mc, memcachedtier.Options{})
	if err != nil {
		panic(err)
	}
	cache, err := tiered.New(tiered.Options{
		Namespace: "myapp:v1:",
		Tiers: []tiered.Tier{
			{Backend: l1},
			{Backend: l2, Timeout: 100 * time.Millisecond},
		},
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	for _, t := range cache.Tiers() {
		fmt.Println(t.Level+1, t.Name)
	}
	// Output:
	// 1 otter
	// 2 memcached
}
