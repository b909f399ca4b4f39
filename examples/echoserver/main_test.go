package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestServeRedis serves the example over a real Redis: the catalogue route (through echocache) is stored on the first
// request and answered by the cache on the second.
func TestServeRedis(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- run(ctx, "127.0.0.1:0", srv.URL(), func(a string) { addrs <- a }) }()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-served:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	var bodies []string
	for i, want := range []string{"miss", "hit"} {
		resp, err := http.Get("http://" + addr + "/catalogue")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		bodies = append(bodies, string(body))
		if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, want) {
			t.Errorf("request %d: Cache-Status %q, want a %s", i+1, cs, want)
		}
	}
	if bodies[0] != bodies[1] {
		t.Errorf("the cached catalogue differs: %q, then %q", bodies[0], bodies[1])
	}
}

// TestRedisUnreachable names Redis, the address and the fix.
func TestRedisUnreachable(t *testing.T) {
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), "127.0.0.1:0", "redis://"+addr+"/0", func(string) { t.Error("served without its Redis") })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Redis at " + addr + " (-redis) does not answer", "fix: start Redis there", "leave -redis empty to use the in-process cache alone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
