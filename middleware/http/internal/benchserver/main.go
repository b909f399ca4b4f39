// Command benchserver serves three routes for load tests with wrk on loopback:
//
//	/static  a handler that writes a 2 KiB response itself
//	/origin  the "origin": the same response after -work of simulated work (a database call)
//	/cached  /origin behind the HTTP cache (answered from the in-process tier after the first hit)
//
//	go run ./middleware/http/internal/benchserver -listen 127.0.0.1:18100 -work 1ms
//	wrk -t2 -c32 -d5s http://127.0.0.1:18100/cached
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	httpcache "github.com/stratacache/strata/middleware/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18100", "address to listen on")
	work := flag.Duration("work", time.Millisecond, "simulated work of the origin handler")
	flag.Parse()
	body := bytes.Repeat([]byte("0123456789abcdef"), 128)
	write := func(w http.ResponseWriter) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Content-Length", "2048")
		_, _ = w.Write(body)
	}
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *work > 0 {
			time.Sleep(*work)
		}
		write(w)
	})
	cache, err := httpcache.New(httpcache.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cache.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/static", func(w http.ResponseWriter, r *http.Request) { write(w) })
	mux.Handle("/origin", origin)
	mux.Handle("/cached", cache.Middleware(origin))
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, "benchserver: listening on", *listen)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
