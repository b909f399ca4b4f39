package grpccache_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
)

// benchServer answers GetItem with a prebuilt item: the cheapest handler there is.
type benchServer struct {
	testpb.UnimplementedItemServiceServer
	item *testpb.Item
}

func (s *benchServer) GetItem(context.Context, *testpb.GetItemRequest) (*testpb.Item, error) {
	return s.item, nil
}

var benchItem = &testpb.Item{Id: "42", Name: "the answer", Version: 7, Attrs: map[string]string{"colour": "blue", "size": "L"}, Payload: make([]byte, 256)}

var benchReq = &testpb.GetItemRequest{Id: "42", Labels: map[string]string{"lang": "en"}}

// benchEnv serves benchServer on loopback TCP with the given server options and dials it.
func benchEnv(b *testing.B, opts ...grpc.ServerOption) testpb.ItemServiceClient {
	e := &env{}
	e.serveService(b, func(s *grpc.Server) { testpb.RegisterItemServiceServer(s, &benchServer{item: benchItem}) }, opts...)
	e.dial(b)
	return e.client
}

// cpuTime is the CPU time (user and system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per call (client and server together, both in this process) since
// start: on a shared machine it moves much less than wall time with the load of others.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkGRPCBaseline is one unary call over loopback TCP to a trivial handler, no interceptor.
func BenchmarkGRPCBaseline(b *testing.B) {
	client := benchEnv(b)
	ctx := context.Background()
	if _, err := client.GetItem(ctx, benchReq); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := client.GetItem(ctx, benchReq); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkGRPCHit is the same call answered by the server interceptor from its cache (an L1 hit
// of a cache whose L2 is Redis).
func BenchmarkGRPCHit(b *testing.B) {
	cs, err := grpccache.NewServer(grpccache.ServerOptions{
		Cache:   newCache(b, namespace(b)),
		Methods: map[string]grpccache.Policy{mGet: {}},
	})
	if err != nil {
		b.Fatal(err)
	}
	client := benchEnv(b, grpc.ChainUnaryInterceptor(cs.UnaryServerInterceptor()))
	ctx := context.Background()
	for range 2 {
		if _, err := client.GetItem(ctx, benchReq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := client.GetItem(ctx, benchReq); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
	if s := cs.Cache().Stats(); s.Loads != 1 {
		b.Fatalf("handler ran %d times", s.Loads)
	}
}

// BenchmarkGRPCHitVsBaseline alternates the calls of BenchmarkGRPCBaseline and BenchmarkGRPCHit,
// one of each per iteration, and reports their mean latencies and ratio: on a shared machine the
// load of others changes between two benchmarks run one after the other, not between two calls
// made back to back.
func BenchmarkGRPCHitVsBaseline(b *testing.B) {
	cs, err := grpccache.NewServer(grpccache.ServerOptions{
		Cache:   newCache(b, namespace(b)),
		Methods: map[string]grpccache.Policy{mGet: {}},
	})
	if err != nil {
		b.Fatal(err)
	}
	base := benchEnv(b)
	hit := benchEnv(b, grpc.ChainUnaryInterceptor(cs.UnaryServerInterceptor()))
	ctx := context.Background()
	for range 2 {
		for _, c := range []testpb.ItemServiceClient{base, hit} {
			if _, err := c.GetItem(ctx, benchReq); err != nil {
				b.Fatal(err)
			}
		}
	}
	var tb, th time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so that neither always follows the other.
		first, second := base, hit
		if i%2 == 1 {
			first, second = hit, base
		}
		t0 := time.Now()
		if _, err := first.GetItem(ctx, benchReq); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := second.GetItem(ctx, benchReq); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if i%2 == 0 {
			tb, th = tb+t1.Sub(t0), th+t2.Sub(t1)
		} else {
			th, tb = th+t1.Sub(t0), tb+t2.Sub(t1)
		}
	}
	if b.N > 0 && tb > 0 {
		b.ReportMetric(float64(tb)/float64(b.N), "baseline-ns/call")
		b.ReportMetric(float64(th)/float64(b.N), "hit-ns/call")
		b.ReportMetric(float64(th)/float64(tb), "hit/baseline")
	}
}
