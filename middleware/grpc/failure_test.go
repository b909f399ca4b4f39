package grpccache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratacache/strata/internal/redistest"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// With Redis gone the calls are still answered: the cache skips the failing tier.
func TestRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	l1, err := ottertier.New(ottertier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := redistier.New(rs.Client(t), redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := tiered.New(tiered.Options{
		Tiers: []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: 200 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	e := start(t, &itemServer{}, grpccache.ServerOptions{Cache: cache, Methods: map[string]grpccache.Policy{mGet: {}}}, "")
	if err := rs.Kill(); err != nil {
		t.Fatal(err)
	}
	expect(t, e.get(t, &testpb.GetItemRequest{Id: "down"}), "miss", 1)
	expect(t, e.get(t, &testpb.GetItemRequest{Id: "down"}), "hit", 1) // from L1
}

// A panic in a cached handler unwinds the call, as it would without the cache, so that a recovery
// interceptor placed outside sees it.
func TestHandlerPanic(t *testing.T) {
	var recovered error
	recovery := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				recovered, _ = r.(error)
				err = status.Error(codes.Internal, "recovered")
			}
		}()
		return h(ctx, req)
	}
	cs, err := grpccache.NewServer(grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGetMeta: {}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	e := &env{srv: &itemServer{}}
	e.serveService(t, func(s *grpc.Server) { testpb.RegisterItemServiceServer(s, panicServer{}) }, grpc.ChainUnaryInterceptor(recovery, cs.UnaryServerInterceptor()))
	e.dial(t)
	for range 2 {
		r := e.call(t.Context(), e.client.GetItemWithMetadata, &testpb.GetItemRequest{Id: "p"})
		if r.code() != codes.Internal {
			t.Fatalf("got %v, want the recovery interceptor's Internal", r.err)
		}
	}
	if !errors.Is(recovered, tiered.ErrLoaderPanic) {
		t.Fatalf("recovered %v", recovered)
	}
}

type panicServer struct {
	testpb.UnimplementedItemServiceServer
}

func (panicServer) GetItemWithMetadata(context.Context, *testpb.GetItemRequest) (*testpb.Item, error) {
	panic("boom")
}
