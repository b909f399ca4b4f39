// Command echoserver shows the HTTP cache on an Echo v4 server with a policy per route (the same
// engine as examples/httpserver, through middleware/echo):
//
//	go run ./examples/echoserver -listen 127.0.0.1:8082 [-redis redis://127.0.0.1:6379/0]
//
//	/products/:id   the handler sets its own freshness (max-age, stale-while-revalidate, ETag)
//	/catalogue      no freshness from the handler: the route opts into tiered.MediumTerm
//	/account        private: never stored, whatever the route
//	/_cache/purge   mounted only when STRATA_PURGE_TOKEN is set
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

	"github.com/labstack/echo/v4"

	"github.com/stratacache/strata/examples/internal/connect"
	echocache "github.com/stratacache/strata/middleware/echo"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8082", "address to listen on")
	redisURL := flag.String("redis", "", "Redis URL for the shared L2 (empty: in-process only)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *redisURL, nil); err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		stop()
		os.Exit(1)
	}
}

// run serves until ctx ends; ready, when set, is told the address it listens on.
func run(ctx context.Context, listen, redisURL string, ready func(addr string)) error {
	l1, err := ottertier.New(ottertier.Options{MaxBytes: 256 << 20})
	if err != nil {
		return err
	}
	defer l1.Close()
	opts := tiered.Options{Tiers: []tiered.Tier{{Backend: l1}}, Namespace: "echoserver:"}
	if redisURL != "" {
		client, err := connect.Redis(ctx, redisURL, "-redis", "to use the in-process cache alone")
		if err != nil {
			return err
		}
		defer client.Close()
		l2, err := redistier.New(client, redistier.Options{})
		if err != nil {
			return err
		}
		opts.Tiers = append(opts.Tiers, tiered.Tier{Backend: l2})
		if opts.Bus, err = redistier.NewBus(client, redistier.BusOptions{Channel: opts.Namespace + redistier.DefaultBusChannel}); err != nil {
			return err
		}
	}
	tc, err := tiered.New(opts)
	if err != nil {
		return err
	}
	defer tc.Close()
	cache, err := httpcache.New(httpcache.Options{Cache: tc})
	if err != nil {
		return err
	}
	defer cache.Close()
	catalogue, err := echocache.RouteMiddleware(cache, httpcache.Route{Strategy: tiered.MediumTerm.WithStale(5 * time.Minute)})
	if err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner = true
	e.GET("/products/:id", func(c echo.Context) error {
		id := c.Param("id")
		h := c.Response().Header()
		h.Set("Cache-Control", "public, max-age=30, stale-while-revalidate=60, stale-if-error=600")
		h.Set("Etag", `"`+id+`-v1"`)
		h.Set("Surrogate-Key", "product product-"+id)
		return c.String(http.StatusOK, fmt.Sprintf("product %s generated at %s\n", id, time.Now().Format(time.RFC3339Nano)))
	}, echocache.Middleware(cache))
	e.GET("/catalogue", func(c echo.Context) error {
		return c.String(http.StatusOK, "catalogue generated at "+time.Now().Format(time.RFC3339Nano)+"\n")
	}, catalogue)
	e.GET("/account", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "private, max-age=60")
		return c.String(http.StatusOK, "account page at "+time.Now().Format(time.RFC3339Nano)+"\n")
	}, catalogue)
	if token := os.Getenv("STRATA_PURGE_TOKEN"); token != "" {
		purge, err := cache.PurgeHandler(httpcache.PurgeOptions{Authorize: func(r *http.Request) bool {
			return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) == 1
		}})
		if err != nil {
			return err
		}
		e.POST("/_cache/purge", echo.WrapHandler(purge))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "echoserver: listening on %s\n", ln.Addr())
	if ready != nil {
		ready(ln.Addr().String())
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
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
