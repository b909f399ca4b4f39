package grpccache_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
	"github.com/stratacache/strata/tiered"
)

// TestClientFleetCallsTheServerOnce: three clients whose caches share a Redis and take leases
// send 20 concurrent calls each for one cold request; the server is called once, and every caller
// gets its answer.
func TestClientFleetCallsTheServerOnce(t *testing.T) {
	clientNS := namespace(t)
	leases := func(o *tiered.Options) { o.Leases = true }
	e, _ := startClient(t, &itemServer{}, grpccache.Policy{ClientMaxAge: time.Minute}, clientNS,
		grpccache.ClientOptions{Cache: newCache(t, clientNS, leases)})
	envs := []*env{e}
	for range 2 {
		c, err := grpccache.NewClient(grpccache.ClientOptions{Cache: newCache(t, clientNS, leases)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		e2 := &env{srv: e.srv, addr: e.addr}
		e2.dial(t, grpc.WithChainUnaryInterceptor(c.UnaryClientInterceptor()))
		envs = append(envs, e2)
	}
	req := &testpb.GetItemRequest{Id: "fleet", DelayMs: 50}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for _, x := range envs {
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				it, err := x.client.GetItem(t.Context(), req)
				if err == nil && it.GetName() != "item fleet" {
					t.Errorf("answer %v", it)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.entered.Load(); n != 1 {
		t.Fatalf("the fleet called the server %d times, want 1", n)
	}
}
