package httpcachetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	httpcache "github.com/stratacache/strata/middleware/http"
)

// RunStreams runs the tests of connection takeovers, panics and cancelled followers.
func RunStreams(t *testing.T, adapter Adapter) {
	Stores(t, adapter, httpcache.Options{}, func(t *testing.T, env *Env) {
		t.Run("UpgradeAndHijackBypass", func(t *testing.T) { testHijack(t, env) })
		t.Run("PanickingLeaderReleasesFollowers", func(t *testing.T) { testPanic(t, env) })
		t.Run("FollowerHonoursItsContext", func(t *testing.T) { testFollowerContext(t, env) })
	})
}

func testHijack(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer conn.Close()
		if r.Header.Get("Upgrade") != "" {
			fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		} else {
			fmt.Fprint(brw, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 6\r\nConnection: close\r\n\r\nraw!\r\n")
		}
		brw.Flush()
		if r.Header.Get("Upgrade") != "" {
			line, _ := brw.ReadString('\n')
			fmt.Fprint(brw, "echo: "+line)
			brw.Flush()
		}
	}}
	srv := httptest.NewServer(env.Handler(t, httpcache.Route{}, origin))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, upgrade := range []bool{true, false} {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		req := "GET /ws HTTP/1.1\r\nHost: example.com\r\n"
		if upgrade {
			req += "Connection: Upgrade\r\nUpgrade: echo\r\n"
		}
		fmt.Fprint(conn, req+"\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if upgrade {
			if resp.StatusCode != 101 {
				t.Fatalf("upgrade: %d", resp.StatusCode)
			}
			fmt.Fprint(conn, "hello\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "echo: hello\n" {
				t.Fatalf("upgraded connection: %q %v", line, err)
			}
		} else {
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != "raw!\r\n" {
				t.Fatalf("hijacked response: %d %q", resp.StatusCode, b)
			}
		}
		conn.Close()
	}
	// Nothing from a hijacked connection is stored.
	if w := Do(env.Handler(t, httpcache.Route{}, fixed("max-age=60")), "GET", "http://example.com/ws"); Hit(w) {
		t.Fatal("hijacked response stored")
	}
}

func testPanic(t *testing.T, env *Env) {
	release := make(chan struct{})
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-release
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "call %d", n)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	leaderDone := make(chan any, 1)
	go func() {
		defer func() { leaderDone <- recover() }()
		Do(h, "GET", "http://example.com/panic")
	}()
	for origin.N.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	followers := make(chan string, 3)
	for range 3 {
		go func() { followers <- Do(h, "GET", "http://example.com/panic").Body.String() }()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	if p := <-leaderDone; p != http.ErrAbortHandler {
		t.Fatalf("leader panic = %v", p)
	}
	for range 3 {
		select {
		case b := <-followers:
			if !strings.HasPrefix(b, "call ") {
				t.Fatalf("follower got %q", b)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("follower stuck after the leader panicked")
		}
	}
}

func testFollowerContext(t *testing.T, env *Env) {
	release := make(chan struct{})
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "late")
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	leader := make(chan struct{})
	go func() { defer close(leader); Do(h, "GET", "http://example.com/ctx") }()
	for origin.N.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := httptest.NewRequest("GET", "http://example.com/ctx", nil).WithContext(ctx)
	start := time.Now()
	h.ServeHTTP(httptest.NewRecorder(), r)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("follower waited %v past its context", d)
	}
	close(release)
	<-leader
	if origin.N.Load() != 1 {
		t.Fatalf("origin calls = %d", origin.N.Load())
	}
}
