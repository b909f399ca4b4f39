// Command httpserver shows the HTTP cache on a net/http server with a policy per route:
//
//	go run ./examples/httpserver -listen 127.0.0.1:8081 [-redis redis://127.0.0.1:6379/0]
//
//	/products/{id}  the handler sets its own freshness (max-age, stale-while-revalidate, ETag)
//	/catalogue      no freshness from the handler: the route opts into tiered.MediumTerm
//	/static/        tiered.LongTerm, tagged "static" for purges
//	/account        private: never stored, whatever the route
//	/_cache/purge   mounted only when STRATA_PURGE_TOKEN is set; POST url=, tag= or pattern=
//	                with "Authorization: Bearer $STRATA_PURGE_TOKEN"
//
// Every response carries Cache-Status; try curl -i twice on each path.
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stratacache/strata/examples/internal/connect"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	redisURL := flag.String("redis", "", "Redis URL for the shared L2 (empty: in-process only)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *redisURL, nil); err != nil {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		stop()
		os.Exit(1)
	}
}

// run serves until ctx ends; ready, when set, is told the address it listens on.
func run(ctx context.Context, listen, redisURL string, ready func(addr string)) error {
	tc, closeTiers, err := newTiered(ctx, redisURL)
	if err != nil {
		return err
	}
	defer closeTiers()
	cache, err := httpcache.New(httpcache.Options{Cache: tc})
	if err != nil {
		return err
	}
	defer cache.Close()

	catalogue, err := cache.RouteMiddleware(httpcache.Route{Strategy: tiered.MediumTerm.WithStale(5 * time.Minute)})
	if err != nil {
		return err
	}
	static, err := cache.RouteMiddleware(httpcache.Route{Strategy: tiered.LongTerm})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /products/{id}", cache.Middleware(http.HandlerFunc(product)))
	mux.Handle("GET /catalogue", catalogue(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "catalogue generated at %s\n", time.Now().Format(time.RFC3339Nano))
	})))
	mux.Handle("GET /static/", static(http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Surrogate-Key", "static")
		fmt.Fprintf(w, "asset %s\n", r.URL.Path)
	}))))
	mux.Handle("GET /account", static(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		fmt.Fprintf(w, "account page at %s\n", time.Now().Format(time.RFC3339Nano))
	})))
	if token := os.Getenv("STRATA_PURGE_TOKEN"); token != "" {
		purge, err := cache.PurgeHandler(httpcache.PurgeOptions{Authorize: func(r *http.Request) bool {
			return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) == 1
		}})
		if err != nil {
			return err
		}
		mux.Handle("POST /_cache/purge", purge)
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "httpserver: listening on %s\n", ln.Addr())
	if ready != nil {
		ready(ln.Addr().String())
	}
	return serve(ctx, ln, mux)
}

// serve serves h on ln until ctx ends, then shuts the server down.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

func product(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	w.Header().Set("Cache-Control", "public, max-age=30, stale-while-revalidate=60, stale-if-error=600")
	w.Header().Set("Etag", `"`+id+`-v1"`)
	w.Header().Set("Surrogate-Key", "product product-"+id)
	fmt.Fprintf(w, "product %s generated at %s\n", id, time.Now().Format(time.RFC3339Nano))
}

// newTiered builds an in-process L1, over Redis when redisURL is set.
func newTiered(ctx context.Context, redisURL string) (*tiered.Cache, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	l1, err := ottertier.New(ottertier.Options{MaxBytes: 256 << 20})
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, l1.Close)
	opts := tiered.Options{Tiers: []tiered.Tier{{Backend: l1}}, Namespace: "httpserver:"}
	if redisURL != "" {
		client, err := connect.Redis(ctx, redisURL, "-redis", "to use the in-process cache alone")
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, func() { _ = client.Close() })
		l2, err := redistier.New(client, redistier.Options{})
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		opts.Tiers = append(opts.Tiers, tiered.Tier{Backend: l2})
		// Invalidations reach every instance's L1.
		if opts.Bus, err = redistier.NewBus(client, redistier.BusOptions{Channel: opts.Namespace + redistier.DefaultBusChannel}); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	tc, err := tiered.New(opts)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, func() { _ = tc.Close() })
	return tc, closeAll, nil
}
