// Command grpcserver serves a small catalogue over gRPC with strata's caching interceptor, and
// calls it through the caching client interceptor.
//
//	go run ./examples/grpcserver serve                 # 127.0.0.1:50051, in-process cache
//	go run ./examples/grpcserver serve -redis redis://127.0.0.1:6379/0 -delay 5ms
//	go run ./examples/grpcserver get -id 42 -n 3       # three calls through the client cache
//
// The server registers gRPC server reflection, so grpcurl works against it:
//
//	grpcurl -plaintext -d '{"id":"42"}' -v 127.0.0.1:50051 strata.examples.catalog.v1.CatalogService/GetProduct
//
// A bounded load test with ghz (go install github.com/bojand/ghz/cmd/ghz@v0.120.0), against a
// cached server and an uncached one (serve -cache=false -addr 127.0.0.1:50052):
//
//	ghz --insecure --call strata.examples.catalog.v1.CatalogService.GetProduct -d '{"id":"42"}' -n 20000 -c 50 127.0.0.1:50051
//
// GetProduct is declared idempotency_level = NO_SIDE_EFFECTS in catalogpb/catalog.proto, so the
// server caches it (the response header cache-status says hit, miss or bypass) and tells clients
// they may keep it with cache-control: max-age. UpdateProduct is not cached, and removes the
// product's cached GetProduct answer with Server.Invalidate.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/stratacache/strata/examples/grpcserver/catalogpb"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:], nil)
	case "get":
		err = get(ctx, os.Args[2:], os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcserver:", err)
		stop()
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: grpcserver serve [-addr A] [-redis URL] [-delay D] [-cache=false]\n       grpcserver get [-addr A] [-id ID] [-n N] [-cache=false]")
	os.Exit(2)
}

// catalog is the service: a map of products behind a handler that takes -delay to answer.
type catalog struct {
	catalogpb.UnimplementedCatalogServiceServer
	delay time.Duration
	calls atomic.Int64
	mu    sync.Mutex
	names map[string]string
	// cache, when set, is told to drop GetProduct answers that an update makes wrong.
	cache *grpccache.Server
}

func (c *catalog) GetProduct(ctx context.Context, req *catalogpb.GetProductRequest) (*catalogpb.Product, error) {
	n := c.calls.Add(1)
	if c.delay > 0 {
		t := time.NewTimer(c.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	c.mu.Lock()
	name, ok := c.names[req.GetId()]
	c.mu.Unlock()
	if !ok {
		name = "product " + req.GetId()
	}
	return &catalogpb.Product{Id: req.GetId(), Name: name, Version: n, ProducedAt: time.Now().UTC().Format(time.RFC3339Nano)}, nil
}

func (c *catalog) UpdateProduct(ctx context.Context, req *catalogpb.UpdateProductRequest) (*catalogpb.Product, error) {
	c.mu.Lock()
	c.names[req.GetId()] = req.GetName()
	c.mu.Unlock()
	if c.cache != nil {
		// The next GetProduct of this id must see the new name (on every instance sharing the
		// Redis tier; clients may keep the old answer for the max-age they were given).
		if err := c.cache.Invalidate(ctx, catalogpb.CatalogService_GetProduct_FullMethodName, &catalogpb.GetProductRequest{Id: req.GetId()}, nil); err != nil {
			return nil, status.Errorf(codes.Unavailable, "invalidate: %v", err)
		}
	}
	return &catalogpb.Product{Id: req.GetId(), Name: req.GetName(), Version: c.calls.Add(1), ProducedAt: time.Now().UTC().Format(time.RFC3339Nano)}, nil
}

// newCache builds an otter L1, over Redis when redisURL is set. The returned function releases
// what it built.
func newCache(redisURL string) (*tiered.Cache, func(), error) {
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 100_000})
	if err != nil {
		return nil, nil, err
	}
	tiers := []tiered.Tier{{Backend: l1}}
	closers := []func(){l1.Close}
	if redisURL != "" {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("-redis: %w", err)
		}
		opt.ContextTimeoutEnabled = true
		rc := redis.NewClient(opt)
		closers = append(closers, func() { _ = rc.Close() })
		l2, err := redistier.New(rc, redistier.Options{})
		if err != nil {
			return nil, nil, err
		}
		tiers = append(tiers, tiered.Tier{Backend: l2})
	}
	cache, err := tiered.New(tiered.Options{
		Tiers:     tiers,
		Namespace: "grpcserver-example:",
		Logger:    slog.Default(),
	})
	if err != nil {
		return nil, nil, err
	}
	return cache, func() {
		_ = cache.Close()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}, nil
}

// serve runs the server until ctx ends; ready, when set, is told the address it listens on.
func serve(ctx context.Context, args []string, ready func(addr string)) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "listen address")
	redisURL := fs.String("redis", os.Getenv("REDIS_URL"), "Redis URL for the shared L2 (default $REDIS_URL; empty: in-process cache only)")
	delay := fs.Duration("delay", 5*time.Millisecond, "time the GetProduct handler takes")
	useCache := fs.Bool("cache", true, "install the caching interceptor")
	ttl := fs.Duration("ttl", time.Minute, "how long GetProduct responses stay cached")
	clientMaxAge := fs.Duration("client-max-age", 30*time.Second, "max-age clients may keep responses for (0: clients keep nothing)")
	_ = fs.Parse(args)

	var opts []grpc.ServerOption
	svc := &catalog{delay: *delay, names: map[string]string{}}
	if *useCache {
		cache, release, err := newCache(*redisURL)
		if err != nil {
			return err
		}
		defer release()
		cs, err := grpccache.NewServer(grpccache.ServerOptions{
			Cache:         cache,
			NoSideEffects: &grpccache.Policy{Strategy: tiered.Custom(*ttl), ClientMaxAge: *clientMaxAge},
			Logger:        slog.Default(),
		})
		if err != nil {
			return err
		}
		svc.cache = cs
		opts = append(opts, grpc.ChainUnaryInterceptor(cs.UnaryServerInterceptor()))
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := grpc.NewServer(opts...)
	catalogpb.RegisterCatalogServiceServer(s, svc)
	reflection.Register(s)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.GracefulStop()
	}()
	slog.Info("serving", "addr", lis.Addr().String(), "cache", *useCache, "redis", *redisURL != "", "delay", *delay)
	if ready != nil {
		ready(lis.Addr().String())
	}
	err = s.Serve(lis)
	cancel()
	<-stopped
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// get calls GetProduct -n times and prints one line per call to out.
func get(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	id := fs.String("id", "42", "product id")
	n := fs.Int("n", 3, "number of calls")
	useCache := fs.Bool("cache", true, "install the caching client interceptor")
	_ = fs.Parse(args)

	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if *useCache {
		cc, err := grpccache.NewClient(grpccache.ClientOptions{MaxTTL: time.Minute})
		if err != nil {
			return err
		}
		defer cc.Close()
		dial = append(dial, grpc.WithChainUnaryInterceptor(cc.UnaryClientInterceptor()))
	}
	conn, err := grpc.NewClient(*addr, dial...)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := catalogpb.NewCatalogServiceClient(conn)
	for i := range *n {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var header metadata.MD
		start := time.Now()
		p, err := client.GetProduct(cctx, &catalogpb.GetProductRequest{Id: *id}, grpc.Header(&header))
		cancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "call %d: %-8s %9v  version=%d name=%q produced_at=%s cache-control=%q\n",
			i+1, first(header.Get("cache-status")), time.Since(start).Round(time.Microsecond), p.GetVersion(), p.GetName(), p.GetProducedAt(), first(header.Get("cache-control")))
	}
	return nil
}

func first(v []string) string {
	if len(v) == 0 {
		return "-"
	}
	return v[0]
}
