package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
)

// TestProxyThroughRedisFaults keeps 8 clients busy on 64 paths through the proxy while its Redis
// is frozen (SIGSTOP) and then killed (-9) and restarted: no request fails, no body is another
// path's, and once Redis is back the proxy writes its L2 again.
func TestProxyThroughRedisFaults(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "body of ", r.URL.Path)
	}))
	defer origin.Close()
	const ns = "proxyfaults:"
	addr := startProxy(t, "-origin", origin.URL, "-redis", srv.URL(), "-namespace", ns)

	var requests, failures, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := fmt.Sprint("/p", i%64)
				resp, err := client.Get("http://" + addr + path)
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					t.Logf("request: %v", err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil || resp.StatusCode != http.StatusOK:
					failures.Add(1)
					t.Logf("%s: %d %v", path, resp.StatusCode, err)
				case string(body) != "body of "+path:
					wrong.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	redistest.Faults(t, srv, requests.Load)

	// L2 writes resume: new paths are stored in the restarted (empty) Redis.
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		resp, err := client.Get(fmt.Sprint("http://", addr, "/after", i))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		keys, _ := rdb.Keys(ctx, ns+"*").Result()
		if len(keys) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing written to Redis after its restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d failed, %d wrong bodies", requests.Load(), failures.Load(), wrong.Load())
	if failures.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("%d failed, %d wrong bodies", failures.Load(), wrong.Load())
	}
}
