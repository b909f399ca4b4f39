package disktier_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/stratacache/strata/tiered"
	disktier "github.com/stratacache/strata/tiered/disk"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// An in-process L1 over the disk tier; the disk tier keeps entries twice as long. After a
// restart the disk tier still holds what was written, with its remaining TTL.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "strata-disk-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	run := func(write bool) {
		disk, err := disktier.Open(dir, disktier.Options{MaxBytes: 256 << 20})
		if err != nil {
			panic(err)
		}
		defer disk.Close()
		l1, err := ottertier.New(ottertier.Options{MaxBytes: 64 << 20})
		if err != nil {
			panic(err)
		}
		defer l1.Close()
		cache, err := tiered.New(tiered.Options{
			Namespace: "myapp:",
			Tiers: []tiered.Tier{
				{Backend: l1},
				{Backend: disk, TTLScale: 2},
			},
		})
		if err != nil {
			panic(err)
		}
		defer cache.Close()
		if write {
			if err := cache.Set(ctx, "user:42", "Ada", tiered.Custom(time.Hour)); err != nil {
				panic(err)
			}
			return
		}
		name, found, err := tiered.Get[string](ctx, cache, "user:42")
		fmt.Println(name, found, err)
		fmt.Println("answered by the disk tier:", cache.Stats().Tiers[1].Hits == 1)
	}
	run(true)  // the first process writes and closes
	run(false) // the next one finds the entry on disk
	// Output:
	// Ada true <nil>
	// answered by the disk tier: true
}
