// Command proxy is a caching reverse proxy: httputil.ReverseProxy behind the strata HTTP cache,
// with the semantics of an RFC 9111 shared cache and no default TTL: what the origin says is
// fresh is reused, plus heuristic freshness (RFC 9111 §4.2.2) for responses with Last-Modified
// (-heuristic), stored responses are served stale when the origin fails (-stale-on-error), and
// POST responses that name their own URL in Content-Location answer later GETs (-store-post), and
// a request that strictly prefers one language gets a stored variant in that language
// (-negotiate-language).
//
//	go run ./examples/proxy -listen 127.0.0.1:8080 -origin http://127.0.0.1:8000 [-redis redis://127.0.0.1:6379/0] [-adapter nethttp|echo]
//
// With -redis, entries live in an in-process L1 over Redis, shared by every proxy on that Redis,
// and the invalidation bus (Redis Pub/Sub) is on: an unsafe request or a purge through one proxy
// removes the entry from the in-process tier of every other.
// Each response carries a Cache-Status header (RFC 9211) saying what the cache did.
//
// Memory: the in-process tier keeps at most -l1-bytes of entries (each weighed by its encoded
// size), and unless GOMEMLIMIT is set the proxy sets Go's soft memory limit to 1.25 × -l1-bytes +
// 64 MiB, so that the heap does not grow to twice what is live between collections. With the
// default 256 MiB, 20,000 distinct 64 KiB bodies keep the process under 1.5 × -l1-bytes + 64 MiB.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		stop()
		os.Exit(1)
	}
}

// run parses args and proxies until ctx ends; ready, when set, is told the address it listens on.
func run(ctx context.Context, args []string, ready func(addr string)) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	originFlag := fs.String("origin", "http://127.0.0.1:8000", "origin server URL")
	redisURL := fs.String("redis", "", "Redis URL for the shared L2 (empty: in-process only)")
	adapter := fs.String("adapter", "nethttp", "middleware adapter: nethttp or echo")
	namespace := fs.String("namespace", "strata-proxy:", "key namespace in Redis")
	maxBody := fs.Int64("max-body", httpcache.DefaultMaxBodySize, "largest body stored, in bytes")
	l1Bytes := fs.Uint64("l1-bytes", httpcache.DefaultL1MaxBytes, "bytes kept in the in-process tier, each entry weighed by its encoded size (status, headers, body)")
	l1Entries := fs.Int("l1-entries", 0, "bound the in-process tier by entries instead of -l1-bytes (0: by bytes); its memory is then bounded only by entries × -max-body")
	targeted := fs.String("targeted", "CDN-Cache-Control", "comma-separated targeted cache-control fields (RFC 9213) obeyed before Cache-Control; empty for none")
	heuristic := fs.Duration("heuristic", 24*time.Hour, "cap of heuristic freshness (10% of the time since Last-Modified); 0 turns it off")
	staleOnError := fs.Duration("stale-on-error", time.Hour, "how long past its freshness a response may be served when the origin fails; 0 only within stale-if-error")
	storePOST := fs.Bool("store-post", true, "store POST responses whose Content-Location is their own URL, for later GETs")
	negotiate := fs.Bool("negotiate-language", true, "answer a request that strictly prefers one language with a stored variant in that language (Vary: Accept-Language alone)")
	originTimeout := fs.Duration("origin-timeout", 30*time.Second, "how long to wait for the origin's response head (then 504, and stale if allowed)")
	verbose := fs.Bool("v", false, "log warnings to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}

	origin, err := url.Parse(*originFlag)
	if err != nil || (origin.Scheme != "http" && origin.Scheme != "https") || origin.Host == "" {
		return fmt.Errorf("-origin %q: want an absolute http(s) URL", *originFlag)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	l1opts := ottertier.Options{MaxBytes: *l1Bytes}
	if *l1Entries > 0 {
		l1opts = ottertier.Options{MaxEntries: *l1Entries}
	} else if os.Getenv("GOMEMLIMIT") == "" {
		// The garbage collector lets the heap grow to twice what is live by default: tell it
		// the process is meant to stay near its cache's bound.
		debug.SetMemoryLimit(int64(min(*l1Bytes, 1<<50))*5/4 + 64<<20)
	}
	l1, err := ottertier.New(l1opts)
	if err != nil {
		return err
	}
	defer l1.Close()
	tiers := []tiered.Tier{{Backend: l1}}
	var bus tiered.Bus
	if *redisURL != "" {
		client, err := connect.Redis(ctx, *redisURL, "-redis", "to use the in-process cache alone")
		if err != nil {
			return err
		}
		defer client.Close()
		l2, err := redistier.New(client, redistier.Options{})
		if err != nil {
			return err
		}
		tiers = append(tiers, tiered.Tier{Backend: l2})
		// The proxies sharing this Redis invalidate each other over Pub/Sub.
		if bus, err = redistier.NewBus(client, redistier.BusOptions{Channel: *namespace + redistier.DefaultBusChannel}); err != nil {
			return err
		}
	}
	tc, err := tiered.New(tiered.Options{Tiers: tiers, Namespace: *namespace, Bus: bus, Logger: logger})
	if err != nil {
		return err
	}
	defer tc.Close()
	var fields []string
	for f := range strings.SplitSeq(*targeted, ",") {
		if f = strings.TrimSpace(f); f != "" {
			fields = append(fields, f)
		}
	}
	cache, err := httpcache.New(httpcache.Options{
		Cache: tc, MaxBodySize: *maxBody, TargetedCacheControl: fields, Logger: logger,
		MaxHeuristicFreshness: *heuristic, MaxStaleOnError: *staleOnError, StorePOST: *storePOST,
		NegotiateLanguage: *negotiate,
	})
	if err != nil {
		return err
	}
	defer cache.Close()

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = *originTimeout
	rp := &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			pr.SetXForwarded()
		},
		ErrorLog: nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A 5xx lets the cache serve a stored response instead, where that is allowed. Say which
			// origin failed and where to look, not the error itself (it may name internal
			// addresses); -v logs it.
			logger.Warn("proxy: origin unreachable", "origin", origin.String(), "error", err)
			code := http.StatusBadGateway
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				code = http.StatusGatewayTimeout
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			fmt.Fprintf(w, "proxy: the origin %s (-origin) did not answer; is it running? (-v logs the error)\n", origin)
		},
	}
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.ServeHTTP(&streamWriter{ResponseWriter: w}, r)
	})

	var handler http.Handler
	switch *adapter {
	case "nethttp":
		handler = cache.Middleware(proxy)
	case "echo":
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.Any("/*", echo.WrapHandler(proxy), echocache.Middleware(cache))
		// Echo's router answers 405 to methods it does not know (M-SEARCH, PROPFIND, ...); a
		// proxy forwards them, through the same engine, which treats them as unsafe.
		other := echo.WrapHandler(cache.Middleware(proxy))
		e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if !slices.Contains(echoMethods, c.Request().Method) {
					return other(c)
				}
				return next(c)
			}
		})
		handler = e
	default:
		return fmt.Errorf("-adapter %q: want nethttp or echo", *adapter)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "proxy: %s -> %s (adapter %s, redis %v)\n", ln.Addr(), origin, *adapter, *redisURL != "")
	if ready != nil {
		ready(ln.Addr().String())
	}
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

// echoMethods are the methods Echo's Any routes.
var echoMethods = []string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
	http.MethodPatch, http.MethodPost, echo.PROPFIND, http.MethodPut, http.MethodTrace, echo.REPORT,
}

// streamWriter stands between httputil.ReverseProxy and the cache. ReverseProxy flushes after
// every write of a response whose length it does not know, and the cache does not store flushed
// responses (they are streams), so flushes pass only for event streams; for other responses they
// are dropped and the body is sent (and stored) as it comes.
type streamWriter struct {
	http.ResponseWriter
}

// FlushError flushes event streams and ignores other flushes.
func (s *streamWriter) FlushError() error {
	mt, _, _ := mime.ParseMediaType(s.Header().Get("Content-Type"))
	if mt != "text/event-stream" {
		return nil
	}
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the underlying writer (hijacking for WebSocket upgrades,
// deadlines).
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
