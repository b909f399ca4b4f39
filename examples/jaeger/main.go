// Command jaeger is a small service traced end to end with OpenTelemetry: net/http with otelhttp,
// a strata cache (otter L1, Redis L2) instrumented by stratotel holding both the HTTP responses
// (httpcache middleware) and the reads of a slow repository behind them (decorate.Func).
// Its traces go over OTLP gRPC to OTEL_EXPORTER_OTLP_ENDPOINT (default 127.0.0.1:4317), where a
// Jaeger all-in-one shows, inside each request, which tier answered, how long Redis took, and
// whether the loader ran.
//
//	go run ./examples/jaeger             # serves GET /users/{id} on ADDR (default 127.0.0.1:8080)
//	go run ./examples/jaeger -traffic    # sends a round of requests to two instances, then exits
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379/0), OTEL_EXPORTER_OTLP_ENDPOINT (host:port
// or http://host:port), OTEL_SERVICE_NAME (default strata-example), ADDR. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/examples/internal/connect"
	httpcache "github.com/stratacache/strata/middleware/http"
	stratotel "github.com/stratacache/strata/otel"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// config is what the service reads from its environment and flags.
type config struct {
	addr        string // where the service listens (serve mode)
	redisURL    string
	endpoint    string // OTLP gRPC endpoint: host:port or a URL
	serviceName string
	namespace   string // key prefix in Redis
	traffic     bool   // send a round of requests and exit
	out         io.Writer
	// exportTimeout bounds each export of a batch of spans (default 2s); the flush at exit waits
	// for at most two of them.
	exportTimeout time.Duration
}

func main() {
	cfg := config{
		addr:        envOr("ADDR", "127.0.0.1:8080"),
		redisURL:    envOr("REDIS_URL", "redis://127.0.0.1:6379/0"),
		endpoint:    envOr("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4317"),
		serviceName: envOr("OTEL_SERVICE_NAME", "strata-example"),
		namespace:   "strata-example:",
		out:         os.Stdout,
	}
	flag.BoolVar(&cfg.traffic, "traffic", false, "send a round of requests to two instances of the service, then exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, cfg config) (err error) {
	// Spans are exported in the background: without this check, a missing collector would show
	// only at exit, as a bare "context deadline exceeded" from the last flush.
	otlpAddr, err := otlpHostPort(cfg.endpoint)
	if err != nil {
		return err
	}
	if err := connect.TCP(ctx, "OTLP gRPC collector (Jaeger)", otlpAddr, "OTEL_EXPORTER_OTLP_ENDPOINT", collectorFix(otlpAddr)); err != nil {
		return err
	}
	if cfg.exportTimeout <= 0 {
		cfg.exportTimeout = 2 * time.Second
	}
	// Spans the collector does not take are reported to OpenTelemetry's error handler: log the
	// first such failure at once, and return an error at exit that names the collector.
	var exportErr atomic.Pointer[error]
	exportFailed := func(err error) error {
		return &connect.Error{Server: "OTLP gRPC collector", Addr: otlpAddr, From: "OTEL_EXPORTER_OTLP_ENDPOINT",
			Problem: "did not take the spans", Err: err,
			Fix: "check that an OTLP gRPC receiver (not OTLP/HTTP, port 4318) listens there; " + collectorFix(otlpAddr)}
	}
	prevHandler := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		if exportErr.CompareAndSwap(nil, &err) {
			log.Printf("spans lost: %v", exportFailed(err)) // from the exporter's goroutine: not to cfg.out
		}
	}))
	defer otel.SetErrorHandler(prevHandler)

	tp, err := newTracerProvider(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		// Flush the last spans before exiting: the export running now, then the rest.
		sctx, cancel := context.WithTimeout(context.Background(), 2*cfg.exportTimeout+time.Second)
		defer cancel()
		serr := tp.Shutdown(sctx)
		if p := exportErr.Load(); p != nil {
			serr = *p
		}
		if serr != nil {
			err = errors.Join(err, exportFailed(serr))
		}
	}()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	rdb, err := connect.Redis(ctx, cfg.redisURL, "REDIS_URL", "")
	if err != nil {
		return err
	}
	defer rdb.Close()

	obs, err := stratotel.New(stratotel.WithTracerProvider(tp))
	if err != nil {
		return err
	}
	repo := &repository{tracer: tp.Tracer("strata-example/repository")}

	if !cfg.traffic {
		inst, err := newInstance(rdb, obs, repo, cfg.namespace)
		if err != nil {
			return err
		}
		defer inst.close()
		return serve(ctx, cfg.addr, inst.handler, cfg.out)
	}

	// Two instances of the service, as two processes would be: each its own L1, one Redis.
	a, err := newInstance(rdb, obs, repo, cfg.namespace)
	if err != nil {
		return err
	}
	defer a.close()
	b, err := newInstance(rdb, obs, repo, cfg.namespace)
	if err != nil {
		return err
	}
	defer b.close()
	return traffic(ctx, cfg, a, b, tp, repo)
}

// otlpHostPort returns the host:port of an OTLP endpoint given as host:port or as a URL (a URL
// without a port means OTLP gRPC's 4317).
func otlpHostPort(endpoint string) (string, error) {
	if !strings.Contains(endpoint, "://") {
		return endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: want host:port or http://host:port", endpoint)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "4317"), nil
	}
	return u.Host, nil
}

// collectorFix says how to get a collector at addr.
func collectorFix(addr string) string {
	port := "4317"
	if _, p, err := net.SplitHostPort(addr); err == nil {
		port = p
	}
	return fmt.Sprintf("start Jaeger v2 there (docker run --rm -p 127.0.0.1:%s:4317 -p 127.0.0.1:16686:16686 jaegertracing/jaeger:2.13.0, "+
		"or the binary scripts/build-jaeger builds; see examples/jaeger/README.md), or set OTEL_EXPORTER_OTLP_ENDPOINT to your collector", port)
}

// newTracerProvider exports spans over OTLP gRPC, in batches.
func newTracerProvider(ctx context.Context, cfg config) (*sdktrace.TracerProvider, error) {
	var opts []otlptracegrpc.Option
	if strings.Contains(cfg.endpoint, "://") {
		opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.endpoint)) // http:// means no TLS
	} else {
		opts = append(opts, otlptracegrpc.WithEndpoint(cfg.endpoint), otlptracegrpc.WithInsecure())
	}
	opts = append(opts, otlptracegrpc.WithTimeout(cfg.exportTimeout))
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", cfg.serviceName)))
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	), nil
}

// instance is one copy of the service: its own cache (otter L1 over the shared Redis), the
// repository read through it, and its handler, whose responses are cached in it too.
type instance struct {
	cache   *tiered.Cache
	users   *decorate.Cached[int64, User]
	handler http.Handler
	close   func()
}

func newInstance(rdb *redis.Client, obs *stratotel.Observer, repo *repository, namespace string) (*instance, error) {
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 10_000, StatsRecorder: obs.EvictionRecorder("otter")})
	if err != nil {
		return nil, err
	}
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		l1.Close()
		return nil, err
	}
	cache, err := tiered.New(tiered.Options{
		Tiers:     []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: 100 * time.Millisecond}},
		Namespace: namespace,
		Observer:  obs,
	})
	if err != nil {
		l1.Close()
		return nil, err
	}
	reg, err := obs.ObserveCache(cache)
	if err != nil {
		_ = cache.Close()
		l1.Close()
		return nil, err
	}

	// The repository's reads, cached: one source call per user however many requests miss at
	// once, and a "no such user" remembered for a minute.
	users, err := decorate.Func(cache, repo.User, decorate.Options{
		Name:     "users.byID",
		Strategy: userStrategy,
		NotFound: []error{errNoSuchUser},
	})
	if err != nil {
		_ = reg.Unregister()
		_ = cache.Close()
		l1.Close()
		return nil, err
	}
	// The responses, cached with the semantics of a shared HTTP cache in the same tiered cache.
	hc, err := httpcache.New(httpcache.Options{Cache: cache})
	if err != nil {
		_ = reg.Unregister()
		_ = cache.Close()
		l1.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /users/{id}", hc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			http.Error(w, "bad user id", http.StatusBadRequest)
			return
		}
		// The request's context carries otelhttp's span: the cache's spans nest under it.
		u, err := users.Call(r.Context(), id)
		switch {
		case errors.Is(err, errNoSuchUser):
			http.Error(w, "no such user", http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		_ = json.NewEncoder(w).Encode(u)
	})))
	return &instance{
		cache:   cache,
		users:   users,
		handler: otelhttp.NewHandler(mux, "strata-example"),
		close: func() {
			_ = hc.Close()
			_ = reg.Unregister()
			_ = cache.Close()
			l1.Close()
		},
	}, nil
}

// userStrategy keeps users for 5 minutes, and remembers for a minute that a user does not exist.
var userStrategy = tiered.ShortTerm.WithNegativeTTL(time.Minute)

// errNoSuchUser is the repository's "not found".
var errNoSuchUser = errors.New("no such user")

// User is what the repository returns.
type User struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// repository stands for a slow database: each call takes a while and records its own span, which
// nests under the cache's strata.loader span.
type repository struct {
	tracer trace.Tracer
	calls  atomic.Int64
}

func (r *repository) User(ctx context.Context, id int64) (User, error) {
	ctx, span := r.tracer.Start(ctx, "SELECT users", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "other_sql"), attribute.String("db.operation.name", "SELECT")))
	defer span.End()
	r.calls.Add(1)
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	if id > 1000 {
		return User{}, errNoSuchUser
	}
	return User{ID: id, Name: fmt.Sprintf("user-%d", id), Email: fmt.Sprintf("user%d@example.com", id)}, nil
}

func serve(ctx context.Context, addr string, h http.Handler, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(out, "listening on http://%s/users/{id}\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// traffic serves both instances on loopback and sends them a round of requests, each in a
// client span of its own, so that every kind of cache answer shows up in the traces:
//
//   - instance a, users 1-3: the response is not cached (L1 and L2 miss), nor is the user: the
//     repository is called (strata.loader), then the response is stored
//   - instance a again: the response is an L1 hit; the handler does not run
//   - instance b, same users: the response is an L2 hit, promoted into b's L1 (both instances
//     answer for one host name)
//   - instance a, users 1-3 with "Cache-Control: no-cache": the response must not come from the
//     cache, so the handler runs, and finds the user in L1
//   - instance a, user 9999: a "not found" from the repository (cached; the 404 is not)
func traffic(ctx context.Context, cfg config, a, b *instance, tp trace.TracerProvider, repo *repository) error {
	// Start from a clean slate so the first round misses.
	if err := a.cache.InvalidateAll(ctx); err != nil {
		return err
	}
	urlA, stopA, err := listen(a.handler)
	if err != nil {
		return err
	}
	defer stopA()
	urlB, stopB, err := listen(b.handler)
	if err != nil {
		return err
	}
	defer stopB()

	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: otelhttp.NewTransport(transport, otelhttp.WithTracerProvider(tp)), Timeout: 5 * time.Second}
	get := func(base string, id int, noCache bool) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/users/%d", base, id), nil)
		if err != nil {
			return err
		}
		// Both instances stand behind one name, as behind a load balancer: the name is part of
		// the HTTP cache's key, so they share the responses stored in Redis.
		req.Host = "users.example"
		if noCache {
			req.Header.Set("Cache-Control", "no-cache")
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("GET /users/%d: %s", id, resp.Status)
		}
		fmt.Fprintf(cfg.out, "GET %s/users/%d -> %d (Cache-Status: %s)\n", base, id, resp.StatusCode, resp.Header.Get("Cache-Status"))
		return nil
	}
	rounds := []struct {
		base    string
		ids     []int
		noCache bool
	}{
		{urlA, []int{1, 2, 3}, false}, // misses: loaded from the repository, response stored
		{urlA, []int{1, 2, 3}, false}, // responses from L1
		{urlB, []int{1, 2, 3}, false}, // responses from L2 on the other instance, promoted to its L1
		{urlA, []int{1, 2, 3}, true},  // responses from the handler, users from L1
		{urlA, []int{9999}, false},    // not found
	}
	for _, r := range rounds {
		for _, id := range r.ids {
			if err := get(r.base, id, r.noCache); err != nil {
				return err
			}
		}
	}
	s := a.cache.Stats()
	fmt.Fprintf(cfg.out, "instance a: requests=%d hits=%d misses=%d loads=%d; repository calls=%d\n",
		s.Requests, s.Hits, s.Misses, s.Loads, repo.calls.Load())
	return nil
}

// listen serves h on a free loopback port.
func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), func() {
		_ = srv.Close()
		<-done
	}, nil
}
