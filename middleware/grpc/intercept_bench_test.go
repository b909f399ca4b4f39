package grpccache

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
)

// BenchmarkInterceptHit is the server interceptor alone answering a hit, with no network: the
// cost the cache adds to a call it answers.
func BenchmarkInterceptHit(b *testing.B) {
	s, err := NewServer(ServerOptions{Methods: map[string]Policy{"/strata.grpccache.test.v1.ItemService/GetItem": {}}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	item := &testpb.Item{Id: "42", Name: "the answer", Version: 7, Attrs: map[string]string{"colour": "blue", "size": "L"}, Payload: make([]byte, 256)}
	req := &testpb.GetItemRequest{Id: "42", Labels: map[string]string{"lang": "en"}}
	h := func(ctx context.Context, req any) (any, error) { return item, nil }
	info := &grpc.UnaryServerInfo{FullMethod: "/strata.grpccache.test.v1.ItemService/GetItem"}
	md := metadata.Pairs(":authority", "127.0.0.1:1234", "content-type", "application/grpc", "user-agent", "grpc-go/1.85.0", "grpc-accept-encoding", "gzip")
	base := metadata.NewIncomingContext(context.Background(), md)
	b.ReportAllocs()
	for b.Loop() {
		ctx := grpc.NewContextWithServerTransportStream(base, &recorder{method: info.FullMethod})
		if _, err := s.intercept(ctx, req, info, h); err != nil {
			b.Fatal(err)
		}
	}
}
