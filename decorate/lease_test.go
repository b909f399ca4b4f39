package decorate_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// TestLeaseFleet: wrappers on four instances with leases, single and batch, call their source
// once per cold key for the whole fleet.
func TestLeaseFleet(t *testing.T) {
	srv := redistest.Shared(t)
	n := ns(t)
	// A generous tier timeout: a lease call that times out on a loaded machine is skipped, and
	// its key loaded without a lease, as it should be, but this test counts source calls.
	leases := func(o *tiered.Options) { o.Leases = true; o.Tiers[1].Timeout = 5 * time.Second }
	var single, batch atomic.Int64
	var mu sync.Mutex
	perID := map[int]int{}
	var fs []*decorate.Cached[int, string]
	var bs []*decorate.Batched[int, string]
	for range 4 {
		e := newEnvOn(t, srv.Client(t), n, leases)
		f, err := decorate.Func(e.cache, func(_ context.Context, id int) (string, error) {
			single.Add(1)
			time.Sleep(50 * time.Millisecond)
			return fmt.Sprint("v", id), nil
		}, decorate.Options{Name: "lease.single"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := decorate.Batch(e.cache, func(_ context.Context, ids []int) (map[int]string, error) {
			batch.Add(1)
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			out := make(map[int]string, len(ids))
			for _, id := range ids {
				perID[id]++
				out[id] = fmt.Sprint("v", id)
			}
			return out, nil
		}, decorate.Options{Name: "lease.batch"})
		if err != nil {
			t.Fatal(err)
		}
		fs, bs = append(fs, f), append(bs, b)
	}
	ctx := context.Background()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range fs {
		for range 25 {
			wg.Go(func() {
				<-start
				if v, err := fs[i].Call(ctx, 7); err != nil || v != "v7" {
					t.Errorf("Func: %q, %v", v, err)
				}
				ids := []int{1, 2, 3, 4, 5, 6, 7, 8}
				got, err := bs[i].Call(ctx, ids)
				if err != nil || len(got) != len(ids) {
					t.Errorf("Batch: %v, %v", got, err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if n := single.Load(); n != 1 {
		t.Fatalf("Func: %d source calls in the fleet, want 1", n)
	}
	for id, n := range perID {
		if n != 1 {
			t.Fatalf("Batch: ID %d loaded %d times in the fleet, want once", id, n)
		}
	}
}
