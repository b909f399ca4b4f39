package connect

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestRedisAnswers(t *testing.T) {
	srv := redistest.Start(t)
	rdb, err := Redis(t.Context(), srv.URL(), "REDIS_URL", "to run without Redis")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRedisDoesNotAnswer(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	_, err = Redis(t.Context(), "redis://"+addr+"/0", "-redis", "to use the in-process cache alone")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want *connect.Error", err, err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v does not wrap ECONNREFUSED", err)
	}
	for _, want := range []string{"Redis at " + addr + " (-redis) does not answer", "connection refused",
		"fix: start Redis there (redis-server --port " + port + "), point -redis at a running Redis, or leave -redis empty to use the in-process cache alone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRedisBadURL(t *testing.T) {
	_, err := Redis(t.Context(), "http://127.0.0.1:6379", "REDIS_URL", "")
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL: not a Redis URL (want redis://host:port/db)") {
		t.Fatalf("error %v", err)
	}
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_ = c.Close()
		}
	}()
	if err := TCP(t.Context(), "a server", ln.Addr().String(), "ADDR", "start it"); err != nil {
		t.Fatal(err)
	}

	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = TCP(t.Context(), "an OTLP gRPC collector", addr, "OTEL_EXPORTER_OTLP_ENDPOINT", "start Jaeger")
	want := "an OTLP gRPC collector at " + addr + " (OTEL_EXPORTER_OTLP_ENDPOINT) does not answer: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "\n  fix: start Jaeger") {
		t.Fatalf("error %q, want %q ... fix: start Jaeger", err, want)
	}

	if err := TCP(t.Context(), "x", "no-port", "ADDR", ""); err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Fatalf("error %v", err)
	}
}

// TestRedisRefusesPing reaches a real server that refuses the connection's setup (a database
// number it does not have): the error says so, not "does not answer".
func TestRedisRefusesPing(t *testing.T) {
	srv := redistest.Start(t)
	_, err := Redis(t.Context(), "redis://"+srv.Addr()+"/99", "REDIS_URL", "")
	if err == nil {
		t.Fatal("database 99 accepted")
	}
	for _, want := range []string{"Redis at " + srv.Addr() + " (REDIS_URL) refused PING: ", "DB index is out of range", "fix: check that a Redis server listens there and that the user, password and database in REDIS_URL are right"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
