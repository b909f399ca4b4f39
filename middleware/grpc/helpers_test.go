package grpccache_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/stratacache/strata/internal/redistest"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// Full method names of the test service.
const (
	mGet     = "/strata.grpccache.test.v1.ItemService/GetItem"
	mUpdate  = "/strata.grpccache.test.v1.ItemService/UpdateItem"
	mPut     = "/strata.grpccache.test.v1.ItemService/PutItem"
	mGetMeta = "/strata.grpccache.test.v1.ItemService/GetItemWithMetadata"
)

// itemServer is the test service. Every method counts its calls; the version of each answer is
// the call count, so a cached answer shows an old version.
type itemServer struct {
	testpb.UnimplementedItemServiceServer
	calls sync.Map // method → *atomic.Int64
	// gate, when set, blocks GetItem until it is closed or the handler's context ends.
	gate chan struct{}
	// entered receives once per GetItem call that reached the gate.
	entered chan struct{}
	// afterDone, when set, makes GetItem answer OK after its context ended.
	afterDone bool
	// header is set as response header by GetItem when not nil.
	header metadata.MD
	// failCode, when not zero, is the status code every GetItem call fails with.
	failCode atomic.Int32
}

func (s *itemServer) count(method string) int64 {
	v, _ := s.calls.LoadOrStore(method, new(atomic.Int64))
	return v.(*atomic.Int64).Add(1)
}

func (s *itemServer) Calls(method string) int64 {
	v, ok := s.calls.Load(method)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (s *itemServer) answer(ctx context.Context, method string, req *testpb.GetItemRequest) (*testpb.Item, error) {
	n := s.count(method)
	if s.gate != nil {
		if s.entered != nil {
			s.entered <- struct{}{}
		}
		select {
		case <-s.gate:
		case <-ctx.Done():
			if !s.afterDone {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}
	}
	if req.GetDelayMs() > 0 {
		select {
		case <-time.After(time.Duration(req.GetDelayMs()) * time.Millisecond):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if c := s.failCode.Load(); c != 0 {
		return nil, status.Errorf(codes.Code(c), "failing as told (call %d)", n)
	}
	if req.GetFail() != 0 {
		return nil, status.Errorf(codes.Code(req.GetFail()), "failing as asked (call %d)", n)
	}
	attrs := map[string]string{}
	for k, v := range req.GetLabels() {
		attrs[k] = v
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-tenant"); len(v) > 0 {
			attrs["tenant"] = v[0]
		}
	}
	return &testpb.Item{Id: req.GetId(), Name: "item " + req.GetId(), Version: n, Attrs: attrs}, nil
}

func (s *itemServer) GetItem(ctx context.Context, req *testpb.GetItemRequest) (*testpb.Item, error) {
	if s.header != nil {
		if err := grpc.SetHeader(ctx, s.header); err != nil {
			return nil, err
		}
	}
	return s.answer(ctx, mGet, req)
}

func (s *itemServer) GetItemWithMetadata(ctx context.Context, req *testpb.GetItemRequest) (*testpb.Item, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-set-header", "a")); err != nil {
		return nil, err
	}
	if err := grpc.SendHeader(ctx, metadata.Pairs("x-sent-header", "b", "x-bin-bin", "\x00\x01\xff")); err != nil {
		return nil, err
	}
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-late", "c")); err == nil {
		return nil, status.Error(codes.Internal, "SetHeader after SendHeader succeeded")
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t1", "x-trailer", "t2")); err != nil {
		return nil, err
	}
	if m, ok := grpc.Method(ctx); !ok || m != mGetMeta {
		return nil, status.Errorf(codes.Internal, "grpc.Method = %q", m)
	}
	return s.answer(ctx, mGetMeta, req)
}

func (s *itemServer) UpdateItem(ctx context.Context, req *testpb.UpdateItemRequest) (*testpb.Item, error) {
	n := s.count(mUpdate)
	return &testpb.Item{Id: req.GetId(), Name: req.GetName(), Version: n}, nil
}

func (s *itemServer) PutItem(ctx context.Context, req *testpb.UpdateItemRequest) (*testpb.Item, error) {
	n := s.count(mPut)
	return &testpb.Item{Id: req.GetId(), Name: req.GetName(), Version: n}, nil
}

// newCache builds an otter L1 over the shared Redis, under a namespace of the test's own.
func newCache(t testing.TB, ns string, opts ...func(*tiered.Options)) *tiered.Cache {
	t.Helper()
	rc := redistest.Shared(t).Client(t)
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := redistier.New(rc, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := tiered.Options{
		Tiers:     []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: 2 * time.Second}},
		Namespace: ns,
	}
	for _, f := range opts {
		f(&o)
	}
	c, err := tiered.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		l1.Close()
	})
	return c
}

// namespace returns a Redis namespace unique to the test.
func namespace(t testing.TB) string {
	return "grpccache-test:" + strings.NewReplacer("/", ":", " ", "_").Replace(t.Name()) + ":" + fmt.Sprint(time.Now().UnixNano()) + ":"
}

// redisClient returns a client of the shared Redis.
func redisClient(t testing.TB) *redis.Client { return redistest.Shared(t).Client(t) }

// env is a server with the interceptor on a loopback port and a client connection to it.
type env struct {
	srv    *itemServer
	cs     *grpccache.Server
	cache  *tiered.Cache
	conn   *grpc.ClientConn
	client testpb.ItemServiceClient
	addr   string
	// entered counts calls that reached the server's interceptor chain.
	entered atomic.Int64
}

// start serves srv with a Server built from o (its Cache defaulting to a Redis-backed cache under
// ns) and dials it, with the client interceptors given.
func start(t testing.TB, srv *itemServer, o grpccache.ServerOptions, ns string, dialOpts ...grpc.DialOption) *env {
	t.Helper()
	if o.Cache == nil {
		o.Cache = newCache(t, ns)
	}
	cs, err := grpccache.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, cs: cs, cache: o.Cache}
	e.serve(t, grpc.ChainUnaryInterceptor(e.counter, cs.UnaryServerInterceptor()))
	e.dial(t, dialOpts...)
	return e
}

// counter is an outer interceptor counting the calls that reach the server.
func (e *env) counter(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	e.entered.Add(1)
	return handler(ctx, req)
}

func (e *env) serve(t testing.TB, opts ...grpc.ServerOption) {
	t.Helper()
	e.serveService(t, func(s *grpc.Server) { testpb.RegisterItemServiceServer(s, e.srv) }, opts...)
}

func (e *env) serveService(t testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(opts...)
	register(gs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	e.addr = lis.Addr().String()
}

func (e *env) dial(t testing.TB, opts ...grpc.DialOption) {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(e.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e.conn = conn
	e.client = testpb.NewItemServiceClient(conn)
}

// result is one call's answer with its metadata.
type result struct {
	item    *testpb.Item
	err     error
	header  metadata.MD
	trailer metadata.MD
}

func (r result) status() string {
	if v := r.header.Get("cache-status"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r result) code() codes.Code { return status.Code(r.err) }

// get calls GetItem with md as outgoing metadata (pairs).
func (e *env) get(t testing.TB, req *testpb.GetItemRequest, md ...string) result {
	t.Helper()
	return e.call(t.Context(), e.client.GetItem, req, md...)
}

func (e *env) call(ctx context.Context, f func(context.Context, *testpb.GetItemRequest, ...grpc.CallOption) (*testpb.Item, error), req *testpb.GetItemRequest, md ...string) result {
	if len(md) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, md...)
	}
	var r result
	r.item, r.err = f(ctx, req, grpc.Header(&r.header), grpc.Trailer(&r.trailer))
	return r
}

// expect fails the test unless r succeeded with the given cache status and item version.
func expect(t testing.TB, r result, cacheStatus string, version int64) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("call failed: %v", r.err)
	}
	if got := r.status(); got != cacheStatus {
		t.Fatalf("cache-status = %q, want %q", got, cacheStatus)
	}
	if r.item.GetVersion() != version {
		t.Fatalf("version = %d, want %d (item %v)", r.item.GetVersion(), version, r.item)
	}
}
