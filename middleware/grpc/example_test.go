package grpccache_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
	"github.com/stratacache/strata/tiered"
)

// exampleService answers GetItem with the number of times its handler ran.
type exampleService struct {
	testpb.UnimplementedItemServiceServer
	calls int64
}

func (s *exampleService) GetItem(_ context.Context, req *testpb.GetItemRequest) (*testpb.Item, error) {
	s.calls++
	return &testpb.Item{Id: req.GetId(), Version: s.calls}, nil
}

// The server interceptor caches every method declared NO_SIDE_EFFECTS for a minute. Here the
// cache is the in-process default; pass ServerOptions.Cache for one with a Redis tier.
func ExampleNewServer() {
	cs, err := grpccache.NewServer(grpccache.ServerOptions{
		NoSideEffects: &grpccache.Policy{Strategy: tiered.Custom(time.Minute)},
	})
	if err != nil {
		panic(err)
	}
	defer cs.Close()

	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(cs.UnaryServerInterceptor()))
	testpb.RegisterItemServiceServer(srv, &exampleService{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := testpb.NewItemServiceClient(conn)
	for range 3 {
		var header metadata.MD
		item, err := client.GetItem(context.Background(), &testpb.GetItemRequest{Id: "42"}, grpc.Header(&header))
		if err != nil {
			panic(err)
		}
		fmt.Println(header.Get("cache-status")[0], item.GetVersion())
	}
	// Output:
	// miss 1
	// hit 1
	// hit 1
}

// The client interceptor keeps responses the server marks fresh with cache-control: max-age —
// here because the server's policy sets ClientMaxAge.
func ExampleNewClient() {
	cs, err := grpccache.NewServer(grpccache.ServerOptions{
		NoSideEffects: &grpccache.Policy{ClientMaxAge: 30 * time.Second},
	})
	if err != nil {
		panic(err)
	}
	defer cs.Close()
	counted := 0
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		counted++
		return h(ctx, req)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(count, cs.UnaryServerInterceptor()))
	testpb.RegisterItemServiceServer(srv, &exampleService{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	cc, err := grpccache.NewClient(grpccache.ClientOptions{MaxTTL: time.Minute})
	if err != nil {
		panic(err)
	}
	defer cc.Close()
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(cc.UnaryClientInterceptor()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := testpb.NewItemServiceClient(conn)
	ctx := context.Background()
	for range 3 {
		if _, err := client.GetItem(ctx, &testpb.GetItemRequest{Id: "42"}); err != nil {
			panic(err)
		}
	}
	fmt.Println("server calls:", counted)
	// Bypass skips the client's cache for one call.
	if _, err := client.GetItem(ctx, &testpb.GetItemRequest{Id: "42"}, grpccache.Bypass()); err != nil {
		panic(err)
	}
	fmt.Println("server calls:", counted)
	// Output:
	// server calls: 1
	// server calls: 2
}
