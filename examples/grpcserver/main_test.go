package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// startServer runs the example's server on a free loopback port until the test ends.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, append([]string{"-addr", "127.0.0.1:0", "-delay", "1ms"}, args...), func(a string) { addrs <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-addrs:
		return addr
	case err := <-served:
		served <- err
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	return ""
}

// lines runs fn and returns its output, line by line.
func lines(t *testing.T, fn func(out *bytes.Buffer) error) []string {
	t.Helper()
	var out bytes.Buffer
	if err := fn(&out); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// expect matches each line against its pattern.
func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(got[i]) {
			t.Errorf("line %d: %q does not match %s", i+1, got[i], re)
		}
	}
}

// TestServeAndGet runs the example end to end on loopback with the in-process cache: the first
// call reaches the handler, the next ones are answered by the client's cache.
func TestServeAndGet(t *testing.T) {
	addr := startServer(t, "-redis", "")
	got := lines(t, func(out *bytes.Buffer) error { return get(t.Context(), []string{"-addr", addr, "-n", "3"}, out) })
	expect(t, got,
		`^call 1: origin +\S+ +version=1 name="product 42" `,
		`^call 2: client cache +\S+ +version=1 `,
		`^call 3: client cache +\S+ +version=1 `,
	)
}

// TestGetServerCache calls without the client cache: the second call is the server cache's.
func TestGetServerCache(t *testing.T) {
	addr := startServer(t, "-redis", "")
	got := lines(t, func(out *bytes.Buffer) error {
		return get(t.Context(), []string{"-addr", addr, "-id", "9", "-n", "2", "-cache=false"}, out)
	})
	expect(t, got,
		`^call 1: origin +\S+ +version=1 name="product 9" `,
		`^call 2: server cache +\S+ +version=1 name="product 9" `,
	)
}

// TestUpdate shows the update reaching the server's cache: after it, the handler answers with the
// new name, then the cache does.
func TestUpdate(t *testing.T) {
	addr := startServer(t, "-redis", "")
	got := lines(t, func(out *bytes.Buffer) error {
		return update(t.Context(), []string{"-addr", addr, "-id", "7", "-name", "seven"}, out)
	})
	expect(t, got,
		`^before: origin +\S+ +version=1 name="product 7" `,
		`^before: server cache +\S+ +version=1 name="product 7" `,
		`^update: +UpdateProduct\(id=7, name="seven"\) -> name="seven"; the server removed its cached GetProduct answer$`,
		`^after: origin +\S+ +version=3 name="seven" `,
		`^after: server cache +\S+ +version=3 name="seven" `,
	)
}

// TestUpdateReachesOtherServers runs two servers on one Redis: an update on one removes the cached
// answer from the other's L1 too (over the invalidation bus), so the other then serves the new
// answer, which the first stored in Redis after the update.
func TestUpdateReachesOtherServers(t *testing.T) {
	srv := redistest.Start(t)
	a := startServer(t, "-redis", srv.URL())
	b := startServer(t, "-redis", srv.URL())
	got := lines(t, func(out *bytes.Buffer) error {
		return get(t.Context(), []string{"-addr", a, "-id", "5", "-n", "1", "-cache=false"}, out)
	})
	expect(t, got, `^call 1: origin `)
	// b finds a's answer in Redis, then in its own L1.
	got = lines(t, func(out *bytes.Buffer) error {
		return get(t.Context(), []string{"-addr", b, "-id", "5", "-n", "2", "-cache=false"}, out)
	})
	expect(t, got, `^call 1: server cache +\S+ +version=1 name="product 5" `, `^call 2: server cache +\S+ +version=1 name="product 5" `)

	// a: the old answer twice, the update, then the new answer from a's handler (stored in Redis
	// and a's L1), then from a's cache.
	lines(t, func(out *bytes.Buffer) error {
		return update(t.Context(), []string{"-addr", a, "-id", "5", "-name", "five"}, out)
	})
	// The bus delivers the invalidation to b asynchronously: until it does, b answers the old
	// name from its L1; once it has, b finds a's new answer in Redis.
	stale := regexp.MustCompile(`^call 1: server cache +\S+ +version=1 name="product 5" `)
	fresh := regexp.MustCompile(`^call 1: server cache +\S+ +version=3 name="five" `)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out bytes.Buffer
		if err := get(t.Context(), []string{"-addr", b, "-id", "5", "-n", "1", "-cache=false"}, &out); err != nil {
			t.Fatal(err)
		}
		if fresh.MatchString(out.String()) {
			break
		}
		if !stale.MatchString(out.String()) || time.Now().After(deadline) {
			t.Fatalf("b after the update on a: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeRedisUnreachable names Redis, the address and the fix.
func TestServeRedisUnreachable(t *testing.T) {
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = serve(t.Context(), []string{"-addr", "127.0.0.1:0", "-redis", "redis://" + addr + "/0"}, func(string) {
		t.Error("served without its Redis")
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{fmt.Sprintf("Redis at %s (-redis) does not answer", addr), "fix: start Redis there", "leave -redis empty to use the in-process cache alone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
