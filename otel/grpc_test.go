package stratotel

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	grpccache "github.com/stratacache/strata/middleware/grpc"
)

// The test service: one unary method taking and returning a wrapperspb.StringValue, described by
// hand so that no generated code is needed.
const grpcGetUser = "/strata.otel.test.Users/Get"

type usersServer struct {
	app   trace.Tracer
	calls int
}

func (s *usersServer) get(ctx context.Context, req *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	s.calls++
	_, span := s.app.Start(ctx, "db.query")
	defer span.End()
	return wrapperspb.String("user " + req.GetValue()), nil
}

var usersServiceDesc = grpc.ServiceDesc{
	ServiceName: "strata.otel.test.Users",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Get",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return srv.(*usersServer).get(ctx, req.(*wrapperspb.StringValue))
			}
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: grpcGetUser}, h)
		},
	}},
}

// mdCarrier carries trace context in gRPC metadata, as otelgrpc does.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// TestSpansGRPCServer: a unary call cached by grpccache's server interceptor, behind an interceptor
// that does what otelgrpc does (extract the caller's trace context from the metadata and start a
// SERVER span), nests the cache's spans under that server span, itself under the client's span:
// the tier walk and the handler (inside strata.loader) on a miss, a strata.load hit on the next
// identical call.
func TestSpansGRPCServer(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	cached, err := grpccache.NewServer(grpccache.ServerOptions{
		Cache:   c,
		Methods: map[string]grpccache.Policy{grpcGetUser: {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	prop := propagation.TraceContext{}
	serverSpan := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		ctx = prop.Extract(ctx, mdCarrier(md.Copy()))
		ctx, span := h.app.Start(ctx, info.FullMethod[1:], trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		return handler(ctx, req)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(serverSpan, cached.UnaryServerInterceptor()))
	users := &usersServer{app: h.app}
	srv.RegisterService(&usersServiceDesc, users)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	inject := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		prop.Inject(ctx, mdCarrier(md))
		return invoker(metadata.NewOutgoingContext(ctx, md), method, req, reply, cc, opts...)
	}
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(inject))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	call := func(ctx context.Context) {
		var reply wrapperspb.StringValue
		if err := conn.Invoke(ctx, grpcGetUser, wrapperspb.String("7"), &reply); err != nil || reply.GetValue() != "user 7" {
			t.Fatalf("Get = %q, %v", reply.GetValue(), err)
		}
	}

	miss := h.request(context.Background(), call)
	hit := h.request(context.Background(), call)
	if users.calls != 1 {
		t.Fatalf("handler called %d times, want 1", users.calls)
	}
	wantTree(t, h.tree(miss, show...), `
strata.otel.test.Users/Get
  strata.load strata.result=miss strata.l1.result=miss strata.loaded=true
    strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
    strata.loader
      db.query
    strata.tier.set strata.tier.name=redis strata.tier.level=2
`)
	wantTree(t, h.tree(hit, show...), `
strata.otel.test.Users/Get
  strata.load strata.result=hit strata.tier.name=otter strata.tier.level=1 strata.l1.result=hit
`)
	for _, sc := range []trace.SpanContext{miss, hit} {
		server := h.span(t, sc, "strata.otel.test.Users/Get")
		if server.SpanKind() != trace.SpanKindServer || server.Parent().SpanID() != sc.SpanID() || !server.Parent().IsRemote() {
			t.Errorf("server span: kind %v parent %v (remote %v), want a server span under the client's %v",
				server.SpanKind(), server.Parent().SpanID(), server.Parent().IsRemote(), sc.SpanID())
		}
	}
}
