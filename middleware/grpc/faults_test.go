package grpccache_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// TestServerThroughRedisFaults keeps 8 clients busy on 32 ids through the server interceptor,
// over an L1, a Redis L2 and the Redis bus, while Redis is frozen (SIGSTOP) and then killed (-9)
// and restarted: no call fails, no answer is another id's, and once Redis is back the
// interceptor writes its L2 again.
func TestServerThroughRedisFaults(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	l1, err := ottertier.New(ottertier.Options{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := namespace(t)
	bus, err := redistier.NewBus(rdb, redistier.BusOptions{Channel: ns + redistier.DefaultBusChannel, HealthInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := tiered.New(tiered.Options{
		Namespace:  ns,
		Tiers:      []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: 100 * time.Millisecond}},
		Breaker:    tiered.BreakerOptions{Failures: 3, Cooldown: 200 * time.Millisecond},
		Bus:        bus,
		BusOptions: tiered.BusOptions{PublishTimeout: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	e := start(t, &itemServer{}, grpccache.ServerOptions{Cache: cache, Methods: map[string]grpccache.Policy{mGet: {Strategy: tiered.Custom(2 * time.Second)}}}, "")

	var calls, failures, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprint("id", i%32)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				item, err := e.client.GetItem(ctx, &testpb.GetItemRequest{Id: id})
				cancel()
				calls.Add(1)
				switch {
				case err != nil:
					failures.Add(1)
					t.Logf("GetItem(%s): %v", id, err)
				case item.GetId() != id || item.GetName() != "item "+id:
					wrong.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	redistest.Faults(t, rs, calls.Load)

	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		_, _ = e.client.GetItem(ctx, &testpb.GetItemRequest{Id: fmt.Sprint("after", i)})
		if keys, _ := rdb.Keys(ctx, ns+"*").Result(); len(keys) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing written to Redis after its restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d calls, %d failed, %d wrong answers", calls.Load(), failures.Load(), wrong.Load())
	if failures.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("%d failed, %d wrong answers", failures.Load(), wrong.Load())
	}
}
