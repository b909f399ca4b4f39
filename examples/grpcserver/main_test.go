package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestServeAndGet runs the example end to end on loopback with the in-process cache: the first
// call is a server miss, the next ones are answered by the client's cache.
func TestServeAndGet(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addrs := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, []string{"-addr", "127.0.0.1:0", "-delay", "1ms", "-redis", ""}, func(a string) { addrs <- a })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-served:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	var out bytes.Buffer
	if err := get(t.Context(), []string{"-addr", addr, "-n", "3"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "miss") || !strings.Contains(lines[1], "hit") || !strings.Contains(lines[2], "hit") {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "version=1 ") {
			t.Fatalf("the handler ran more than once:\n%s", out.String())
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
