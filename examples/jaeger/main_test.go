package main

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestTrafficWithoutCollector: nothing listens at the OTLP endpoint. The example stops before
// sending any traffic and names the collector, the address and the fix.
func TestTrafficWithoutCollector(t *testing.T) {
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	var out bytes.Buffer
	start := time.Now()
	err = run(t.Context(), config{redisURL: "redis://" + addr + "/0", endpoint: addr, serviceName: "t", namespace: "t:", traffic: true, out: &out})
	if err == nil {
		t.Fatal("ran without a collector")
	}
	for _, want := range []string{
		"OTLP gRPC collector (Jaeger) at " + addr + " (OTEL_EXPORTER_OTLP_ENDPOINT) does not answer: ",
		"connection refused",
		"fix: start Jaeger v2 there (docker run --rm -p 127.0.0.1:" + port + ":4317 ",
		"or set OTEL_EXPORTER_OTLP_ENDPOINT to your collector",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("sent traffic first:\n%s", out.String())
	}
	t.Logf("failed after %v", time.Since(start))

	// The same endpoint as a URL.
	err = run(t.Context(), config{endpoint: "http://" + addr, traffic: true, out: &out})
	if err == nil || !strings.Contains(err.Error(), "at "+addr+" (OTEL_EXPORTER_OTLP_ENDPOINT) does not answer") {
		t.Errorf("URL endpoint: %v", err)
	}
}

// TestTrafficCollectorSilent: something accepts connections at the endpoint but never speaks
// OTLP. The traffic runs; the last flush fails, and the error names the collector and the fix
// rather than being a bare "context deadline exceeded".
func TestTrafficCollectorSilent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	accepted := make(chan net.Conn, 64)
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	})
	defer func() {
		_ = ln.Close()
		conns.Wait()
		close(accepted)
		for c := range accepted {
			_ = c.Close()
		}
	}()
	srv := redistest.Start(t)
	var out bytes.Buffer
	err = run(t.Context(), config{redisURL: srv.URL(), endpoint: ln.Addr().String(), serviceName: "t", namespace: "silent:", traffic: true, out: &out, exportTimeout: time.Second})
	if !strings.Contains(out.String(), "GET http://") {
		t.Errorf("no traffic:\n%s", out.String())
	}
	if err == nil {
		t.Fatal("no error from a collector that never answered")
	}
	for _, want := range []string{
		"OTLP gRPC collector at " + ln.Addr().String() + " (OTEL_EXPORTER_OTLP_ENDPOINT) did not take the spans: ",
		"fix: check that an OTLP gRPC receiver (not OTLP/HTTP, port 4318) listens there; start Jaeger v2 there",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
