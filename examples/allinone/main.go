// Command allinone serves four adapters of strata from one cache built with default options: a
// repository method wrapped with decorate, a net/http route with httpcache, an Echo route with
// echocache and a gRPC method with grpccache. Each adapter's values live in the same tiered.Cache,
// next to each other: HTTP and gRPC entries encode themselves, so no special codec is needed.
//
// It runs on the embedded in-process cache; with REDIS_URL set the cache is an otter L1 over Redis
// with the invalidation bus (redistier.NewCache), still one call.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/examples/grpcserver/catalogpb"
	"github.com/stratacache/strata/examples/internal/connect"
	echocache "github.com/stratacache/strata/middleware/echo"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv("REDIS_URL")); err != nil {
		fmt.Fprintln(os.Stderr, "allinone:", err)
		os.Exit(1)
	}
}

// Product is what the repository returns.
type Product struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// source counts the calls that reached each origin: the repository, the HTTP and Echo handlers,
// the gRPC method.
type source struct{ repo, http, echo, grpc atomic.Int64 }

func (s *source) product(_ context.Context, id int64) (Product, error) {
	s.repo.Add(1)
	return Product{ID: id, Name: "product-" + strconv.FormatInt(id, 10)}, nil
}

type catalog struct {
	catalogpb.UnimplementedCatalogServiceServer
	src *source
}

func (c *catalog) GetProduct(_ context.Context, r *catalogpb.GetProductRequest) (*catalogpb.Product, error) {
	n := c.src.grpc.Add(1)
	return &catalogpb.Product{Id: r.GetId(), Name: "product-" + r.GetId(), Version: n}, nil
}

// run builds the one cache and the four adapters, calls each twice and prints who answered.
func run(ctx context.Context, out io.Writer, redisURL string) error {
	cache, closeCache, err := newCache(ctx, redisURL)
	if err != nil {
		return err
	}
	defer closeCache()
	src := &source{}

	// 1. A repository method.
	byID, err := decorate.Func(cache, src.product, decorate.Options{Name: "products.byID", Strategy: tiered.ShortTerm})
	if err != nil {
		return err
	}

	// 2. net/http, 3. Echo: one httpcache engine over the same cache.
	hc, err := httpcache.New(httpcache.Options{Cache: cache})
	if err != nil {
		return err
	}
	defer hc.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		n := src.http.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "product %s (net/http call %d)", r.PathValue("id"), n)
	})
	httpURL, stopHTTP, err := serveHTTP(hc.Middleware(mux))
	if err != nil {
		return err
	}
	defer stopHTTP()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/items/:id", func(c echo.Context) error {
		n := src.echo.Add(1)
		c.Response().Header().Set("Cache-Control", "max-age=60")
		return c.String(http.StatusOK, fmt.Sprintf("item %s (echo call %d)", c.Param("id"), n))
	}, echocache.Middleware(hc))
	echoURL, stopEcho, err := serveHTTP(e)
	if err != nil {
		return err
	}
	defer stopEcho()

	// 4. gRPC.
	gs, err := grpccache.NewServer(grpccache.ServerOptions{Cache: cache, Methods: map[string]grpccache.Policy{
		catalogpb.CatalogService_GetProduct_FullMethodName: {Strategy: tiered.ShortTerm},
	}})
	if err != nil {
		return err
	}
	defer gs.Close()
	grpcAddr, stopGRPC, err := serveGRPC(gs, &catalog{src: src})
	if err != nil {
		return err
	}
	defer stopGRPC()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	cat := catalogpb.NewCatalogServiceClient(conn)

	fmt.Fprintf(out, "one cache (%s) serving four adapters:\n", describe(cache))
	for round := 1; round <= 2; round++ {
		p, err := byID.Call(ctx, 7)
		if err != nil {
			return err
		}
		h, err := get(ctx, httpURL+"/products/7")
		if err != nil {
			return err
		}
		ec, err := get(ctx, echoURL+"/items/7")
		if err != nil {
			return err
		}
		g, err := cat.GetProduct(ctx, &catalogpb.GetProductRequest{Id: "7"})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  round %d  decorate: %s | net/http: %s | echo: %s | grpc: %s (version %d)\n", round, p.Name, h, ec, g.GetName(), g.GetVersion())
	}
	fmt.Fprintf(out, "  origin calls: repository %d, net/http %d, echo %d, grpc %d — the second round was answered by the cache\n",
		src.repo.Load(), src.http.Load(), src.echo.Load(), src.grpc.Load())
	s := cache.Stats()
	fmt.Fprintf(out, "  cache stats: requests=%d hits=%d misses=%d loads=%d\n", s.Requests, s.Hits, s.Misses, s.Loads)
	return nil
}

// newCache builds the one cache: default options, or one call for an L1 over Redis.
func newCache(ctx context.Context, redisURL string) (*tiered.Cache, func(), error) {
	if redisURL == "" {
		c, err := tiered.New(tiered.Options{})
		if err != nil {
			return nil, nil, err
		}
		return c, func() { _ = c.Close() }, nil
	}
	rdb, err := connect.Redis(ctx, redisURL, "REDIS_URL", "to run on the in-process cache alone")
	if err != nil {
		return nil, nil, err
	}
	c, err := redistier.NewCache(rdb, tiered.Options{Namespace: fmt.Sprintf("allinone:%d:", time.Now().UnixNano())})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return c, func() { _ = c.Close(); _ = rdb.Close() }, nil
}

func describe(c *tiered.Cache) string {
	s := ""
	for _, t := range c.Tiers() {
		if s != "" {
			s += " → "
		}
		s += t.Name
	}
	return s
}

// serveHTTP serves h on a free loopback port.
func serveHTTP(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// serveGRPC serves the catalog through grpccache's interceptor on a free loopback port.
func serveGRPC(gs *grpccache.Server, impl catalogpb.CatalogServiceServer) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(gs.UnaryServerInterceptor()))
	catalogpb.RegisterCatalogServiceServer(s, impl)
	go func() { _ = s.Serve(ln) }()
	return ln.Addr().String(), s.Stop, nil
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return string(b), nil
}
