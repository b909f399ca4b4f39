package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// startProxy runs the proxy with args on a free loopback port until the test ends.
func startProxy(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), func(a string) { addrs <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	select {
	case addr := <-addrs:
		return addr
	case err := <-served:
		served <- err
		t.Fatalf("proxy: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not start")
	}
	return ""
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestProxyRedis proxies a real origin with both adapters over a real Redis: what the origin marks
// fresh is stored once and then served without calling it.
func TestProxyRedis(t *testing.T) {
	srv := redistest.Start(t)
	for _, adapter := range []string{"nethttp", "echo"} {
		t.Run(adapter, func(t *testing.T) {
			var calls atomic.Int64
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprintf(w, "answer %d", n)
			}))
			defer origin.Close()
			addr := startProxy(t, "-origin", origin.URL, "-redis", srv.URL(), "-adapter", adapter, "-namespace", "proxytest:"+adapter+":")
			for i := range 3 {
				resp, body := fetch(t, "http://"+addr+"/thing")
				if resp.StatusCode != http.StatusOK || body != "answer 1" {
					t.Fatalf("request %d: %s %q", i+1, resp.Status, body)
				}
				if cs := resp.Header.Get("Cache-Status"); i > 0 && !strings.Contains(cs, "hit") {
					t.Errorf("request %d: Cache-Status %q", i+1, cs)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("the origin was called %d times", n)
			}
		})
	}
}

// TestOriginDown: a 502 that names the origin.
func TestOriginDown(t *testing.T) {
	dead, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	addr := startProxy(t, "-origin", "http://"+dead)
	resp, body := fetch(t, "http://"+addr+"/")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "the origin http://"+dead+" (-origin) did not answer") {
		t.Fatalf("%s %q", resp.Status, body)
	}
}

// TestProxyRedisUnreachable names Redis, the address and the fix.
func TestProxyRedisUnreachable(t *testing.T) {
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), []string{"-listen", "127.0.0.1:0", "-redis", "redis://" + addr + "/0"}, func(string) { t.Error("served without its Redis") })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Redis at " + addr + " (-redis) does not answer", "fix: start Redis there", "leave -redis empty to use the in-process cache alone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
