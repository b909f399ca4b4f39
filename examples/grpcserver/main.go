// Command grpcserver serves a small catalogue over gRPC with strata's caching interceptor, and
// calls it through the caching client interceptor.
//
//	go run ./examples/grpcserver serve                 # 127.0.0.1:50051, in-process cache
//	go run ./examples/grpcserver serve -redis redis://127.0.0.1:6379/0 -delay 5ms
//	go run ./examples/grpcserver get -id 42 -n 3       # three calls through the client cache
//	go run ./examples/grpcserver update -id 42 -name x # an update, and the server cache following it
//
// get and update say which cache answered each call: the client's own cache (the call never left
// the process), the server's cache (cache-status: hit), or the origin (the handler ran).
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

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/stratacache/strata/examples/grpcserver/catalogpb"
	"github.com/stratacache/strata/examples/internal/connect"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/tiered"
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
	case "update":
		err = update(ctx, os.Args[2:], os.Stdout)
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
	fmt.Fprintln(os.Stderr, `usage: grpcserver serve [-addr A] [-redis URL] [-delay D] [-cache=false]
       grpcserver get [-addr A] [-id ID] [-n N] [-cache=false]
       grpcserver update [-addr A] [-id ID] [-name NAME]`)
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

// newCache builds an otter L1, over Redis when redisURL is set, with the invalidation bus so that
// an update reaches the L1 of every server sharing that Redis. The returned function releases what
// it built.
func newCache(ctx context.Context, redisURL string) (*tiered.Cache, func(), error) {
	var closers []func()
	release := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	opts := tiered.Options{Namespace: "grpcserver-example:", Logger: slog.Default()}
	var cache *tiered.Cache
	var err error
	if redisURL == "" {
		cache, err = tiered.New(opts) // the embedded default: one otter L1
	} else {
		rc, cerr := connect.Redis(ctx, redisURL, "-redis", "to use the in-process cache alone")
		if cerr != nil {
			return nil, nil, cerr
		}
		closers = append(closers, func() { _ = rc.Close() })
		// One call: an L1 over Redis, with the bus so that an update on one server reaches all.
		cache, err = redistier.NewCache(rc, opts)
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	closers = append(closers, func() { _ = cache.Close() })
	return cache, release, nil
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
		cache, release, err := newCache(ctx, *redisURL)
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

// get calls GetProduct -n times and prints one line per call to out, saying who answered.
func get(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	id := fs.String("id", "42", "product id")
	n := fs.Int("n", 3, "number of calls")
	useCache := fs.Bool("cache", true, "install the caching client interceptor")
	_ = fs.Parse(args)

	var cc *grpccache.Client
	if *useCache {
		var err error
		cc, err = grpccache.NewClient(grpccache.ClientOptions{MaxTTL: time.Minute})
		if err != nil {
			return err
		}
		defer cc.Close()
	}
	conn, err := dial(*addr, cc)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := catalogpb.NewCatalogServiceClient(conn)
	for i := range *n {
		if err := getProduct(ctx, client, *id, fmt.Sprintf("call %d", i+1), out); err != nil {
			return err
		}
	}
	return nil
}

// update reads a product twice, renames it, and reads it twice again, to show the server's cache
// following the update: UpdateProduct removes the cached GetProduct answer, so the first read
// after it reaches the handler and the second is the server cache's again, with the new name.
// It uses no client cache: a client keeps an answer for the max-age the server gave it (30s by
// default), whatever happens on the server meanwhile.
func update(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("update", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	id := fs.String("id", "42", "product id")
	name := fs.String("name", "", "the product's new name (default: \"renamed at\" the time)")
	_ = fs.Parse(args)
	if *name == "" {
		*name = "renamed at " + time.Now().Format(time.TimeOnly)
	}

	conn, err := dial(*addr, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := catalogpb.NewCatalogServiceClient(conn)
	for range 2 {
		if err := getProduct(ctx, client, *id, "before", out); err != nil {
			return err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	p, err := client.UpdateProduct(cctx, &catalogpb.UpdateProductRequest{Id: *id, Name: *name})
	cancel()
	if err != nil {
		return fmt.Errorf("UpdateProduct at %s: %w", *addr, err)
	}
	fmt.Fprintf(out, "update:  UpdateProduct(id=%s, name=%q) -> name=%q; the server removed its cached GetProduct answer\n", *id, *name, p.GetName())
	for range 2 {
		if err := getProduct(ctx, client, *id, "after", out); err != nil {
			return err
		}
	}
	return nil
}

// callTimeout bounds each call of get and update.
const callTimeout = 5 * time.Second

// dial connects to the server at addr, through the client cache cc when it is not nil. After the
// caching interceptor, when there is one, comes a probe that marks the calls going out to the
// server: a call the client cache answers never reaches it.
func dial(addr string, cc *grpccache.Client) (*grpc.ClientConn, error) {
	var chain []grpc.UnaryClientInterceptor
	if cc != nil {
		chain = append(chain, cc.UnaryClientInterceptor())
	}
	chain = append(chain, func(ctx context.Context, method string, req, reply any, conn *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if sent, ok := ctx.Value(sentKey{}).(*bool); ok {
			*sent = true
		}
		return invoker(ctx, method, req, reply, conn, opts...)
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainUnaryInterceptor(chain...))
	if err != nil {
		return nil, fmt.Errorf("-addr %s: %w", addr, err)
	}
	return conn, nil
}

// sentKey is the context key of the flag dial's probe sets when a call goes out to the server.
type sentKey struct{}

// getProduct calls GetProduct once and prints a line to out: who answered, how long it took, and
// the product.
func getProduct(ctx context.Context, client catalogpb.CatalogServiceClient, id, label string, out io.Writer) error {
	sent := new(bool)
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, sentKey{}, sent), callTimeout)
	defer cancel()
	var header metadata.MD
	start := time.Now()
	p, err := client.GetProduct(cctx, &catalogpb.GetProductRequest{Id: id}, grpc.Header(&header))
	if err != nil {
		if status.Code(err) == codes.Unavailable {
			return fmt.Errorf("GetProduct: the server does not answer (start it with: go run ./examples/grpcserver serve): %w", err)
		}
		return fmt.Errorf("GetProduct: %w", err)
	}
	fmt.Fprintf(out, "%s: %-12s %9v  version=%d name=%q produced_at=%s cache-control=%q\n",
		label, answeredBy(*sent, header), time.Since(start).Round(time.Microsecond), p.GetVersion(), p.GetName(), p.GetProducedAt(), first(header.Get("cache-control")))
	return nil
}

// answeredBy names who answered a call: the client's own cache when the call never went out,
// else the server's cache when it says so (cache-status: hit), else the handler.
func answeredBy(sent bool, header metadata.MD) string {
	switch {
	case !sent:
		return "client cache"
	case first(header.Get("cache-status")) == grpccache.StatusHit:
		return "server cache"
	default:
		return "origin"
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return "-"
	}
	return v[0]
}
