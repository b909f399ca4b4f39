package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
)

// EnvJaegerBin names the environment variable that points the end-to-end test at a Jaeger v2
// binary. Without it the test builds one with scripts/build-jaeger (cached between runs; a cold
// build downloads the Jaeger module and its dependencies and takes many minutes).
const EnvJaegerBin = "STRATA_JAEGER_BIN"

// TestJaegerEndToEnd runs the example's traffic against a real Jaeger v2 all-in-one on loopback,
// exporting over OTLP gRPC, then reads the traces back through Jaeger's /api/v3/traces and checks
// the cache's spans inside each request.
func TestJaegerEndToEnd(t *testing.T) {
	bin := jaegerBinary(t)
	j := startJaeger(t, bin)
	redisSrv := redistest.Start(t)

	service := fmt.Sprintf("strata-e2e-%d", time.Now().UnixNano())
	var out bytes.Buffer
	start := time.Now()
	err := run(context.Background(), config{
		redisURL:    redisSrv.URL(),
		endpoint:    j.otlp,
		serviceName: service,
		namespace:   "e2e:",
		traffic:     true,
		out:         &out,
	})
	t.Logf("traffic:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}

	const want = 13 // 3 misses, 3 L1 hits, 3 L2 hits, 3 no-cache requests, 1 not found
	var traces map[string][]span
	deadline := time.Now().Add(30 * time.Second)
	for {
		traces = j.traces(t, service, start.Add(-time.Minute), time.Now().Add(time.Minute))
		if len(traces) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(traces) != want {
		t.Fatalf("Jaeger holds %d traces of %s, want %d", len(traces), service, want)
	}

	show := []string{"strata.result", "strata.tier.name", "strata.tier.level", "strata.l1.result", "strata.tier.hit", "strata.loaded", "strata.promoted"}
	got := map[string]int{}
	for _, spans := range traces {
		got[renderServer(t, spans, show)]++
	}
	wantTrees := map[string]int{
		// Misses: the HTTP cache looks the response up (strata.get: L1 says miss, Redis is asked
		// in a CLIENT span) and calls the handler; decorate's read misses too, its loader runs the
		// query and the user is written back to Redis; then the response is stored.
		`GET /users/{id} [server]
  strata.get [internal] strata.result=miss strata.l1.result=miss
    strata.tier.get [client] strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
  strata.load [internal] strata.result=miss strata.l1.result=miss strata.loaded=true
    strata.tier.get [client] strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
    strata.loader [internal]
      SELECT users [client]
    strata.tier.set [client] strata.tier.name=redis strata.tier.level=2
  strata.set [internal]
    strata.tier.set [client] strata.tier.name=redis strata.tier.level=2
`: 3,
		// The response from L1: an attribute, no child span; the handler does not run.
		`GET /users/{id} [server]
  strata.get [internal] strata.result=hit strata.tier.name=otter strata.tier.level=1 strata.l1.result=hit
`: 3,
		// The response from Redis on the other instance, promoted into its L1.
		`GET /users/{id} [server]
  strata.get [internal] strata.result=hit strata.tier.name=redis strata.tier.level=2 strata.l1.result=miss strata.promoted=1
    strata.tier.get [client] strata.tier.name=redis strata.tier.level=2 strata.tier.hit=true
`: 3,
		// "Cache-Control: no-cache" from the client: the stored response is found but not used,
		// the handler runs and decorate answers from L1, and the new response is stored.
		`GET /users/{id} [server]
  strata.get [internal] strata.result=hit strata.tier.name=otter strata.tier.level=1 strata.l1.result=hit
  strata.load [internal] strata.result=hit strata.tier.name=otter strata.tier.level=1 strata.l1.result=hit
  strata.set [internal]
    strata.tier.set [client] strata.tier.name=redis strata.tier.level=2
`: 3,
		// User 9999: the repository's "not found" is cached (a result, not an error); the 404
		// without freshness is not stored.
		`GET /users/{id} [server]
  strata.get [internal] strata.result=miss strata.l1.result=miss
    strata.tier.get [client] strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
  strata.load [internal] strata.result=miss strata.l1.result=miss strata.loaded=true
    strata.tier.get [client] strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
    strata.loader [internal]
      SELECT users [client]
    strata.tier.set [client] strata.tier.name=redis strata.tier.level=2
`: 1,
	}
	if !mapsEqual(got, wantTrees) {
		var b strings.Builder
		for tree, n := range got {
			fmt.Fprintf(&b, "%d ×\n%s\n", n, tree)
		}
		t.Errorf("request traces in Jaeger:\n%s", b.String())
	}
	for _, spans := range traces {
		for _, s := range spans {
			if strings.HasPrefix(s.Name, "strata.") && s.Scope != "github.com/stratacache/strata/otel" {
				t.Errorf("span %s has scope %q", s.Name, s.Scope)
			}
			// The cache's spans and the server's succeed; otelhttp's client marks the 404 an error.
			if s.Status.Code == 2 && (strings.HasPrefix(s.Name, "strata.") || s.Kind == 2) {
				t.Errorf("span %s failed: %+v", s.Name, s.Status)
			}
		}
	}
}

// jaegerBinary returns the Jaeger binary named by STRATA_JAEGER_BIN, or builds it with
// scripts/build-jaeger within the test's remaining time. It fails the test when it cannot. In
// -short mode without STRATA_JAEGER_BIN it skips the test rather than build Jaeger.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvJaegerBin); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			t.Fatalf("%s=%s is not an executable file (%v); build it with scripts/build-jaeger", EnvJaegerBin, p, err)
		}
		return p
	}
	if testing.Short() {
		t.Skipf("needs a Jaeger v2 binary: skipped in -short mode without %s (make test builds one with scripts/build-jaeger)", EnvJaegerBin)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "build-jaeger"))
	if err != nil {
		t.Fatal(err)
	}
	budget := 40 * time.Minute
	if d, ok := t.Deadline(); ok {
		budget = time.Until(d) - 2*time.Minute
	}
	if budget <= 0 {
		t.Fatalf("no time left to build Jaeger: run scripts/build-jaeger first and set %s to the path it prints", EnvJaegerBin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stderr = &stderr
	t.Logf("%s unset: building Jaeger with %s (cached after the first build; allowed %v)", EnvJaegerBin, script, budget.Round(time.Second))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building Jaeger failed (%v): run scripts/build-jaeger first (a cold build takes many minutes) and set %s to the path it prints\n%s",
			err, EnvJaegerBin, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// jaeger is a running Jaeger all-in-one.
type jaeger struct {
	otlp  string // OTLP gRPC host:port
	query string // base URL of the query HTTP API
}

// jaegerConfig keeps the all-in-one to what the test needs: an OTLP gRPC receiver, in-memory
// storage and the query service, each on a free loopback port, and no telemetry of its own.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// startJaeger starts the all-in-one on free loopback ports and stops it when the test ends. Free
// ports can be taken by another process before Jaeger binds them: it tries three times.
func startJaeger(t *testing.T, bin string) *jaeger {
	t.Helper()
	var errs []string
	for attempt := range 3 {
		j, stop, err := tryJaeger(t, bin, attempt)
		if err == nil {
			t.Cleanup(stop)
			return j
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("jaeger did not start:\n%s", strings.Join(errs, "\n"))
	return nil
}

func tryJaeger(t *testing.T, bin string, attempt int) (*jaeger, func(), error) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	cfgPath := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, jaegerConfig, ports[1], ports[0]), 0o600); err != nil {
		return nil, nil, err
	}
	queryAddr := "127.0.0.1:" + strconv.Itoa(ports[2])
	logPath := filepath.Join(dir, "jaeger.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, "--config=file:"+cfgPath,
		"--set=extensions.jaeger_query.http.endpoint="+queryAddr,
		"--set=extensions.jaeger_query.enable_tracing=false")
	cmd.Env = append(os.Environ(), "JAEGER_LISTEN_HOST=127.0.0.1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	j := &jaeger{otlp: "127.0.0.1:" + strconv.Itoa(ports[0]), query: "http://" + queryAddr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			return nil, nil, fmt.Errorf("attempt %d: jaeger exited at start (%v):\n%s", attempt+1, waitErr, log)
		default:
		}
		if ready(j) {
			return j, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(logPath)
			return nil, nil, fmt.Errorf("attempt %d: jaeger not ready within 60s:\n%s", attempt+1, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ready(j *jaeger) bool {
	c, err := net.DialTimeout("tcp", j.otlp, 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	resp, err := http.Get(j.query + "/api/v3/services")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}

// span is a span as /api/v3/traces returns it (OTLP JSON), with its scope.
type span struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Start        string `json:"startTimeUnixNano"`
	Attributes   []struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	} `json:"attributes"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Scope string `json:"-"`
}

func (s span) attr(key string) (string, bool) {
	for _, a := range s.Attributes {
		if a.Key == key {
			for _, v := range a.Value {
				return fmt.Sprint(v), true
			}
		}
	}
	return "", false
}

// traces queries Jaeger for the traces of service that started in [min, max], by trace ID.
func (j *jaeger) traces(t *testing.T, service string, min, max time.Time) map[string][]span {
	t.Helper()
	q := url.Values{
		"query.service_name":   {service},
		"query.start_time_min": {min.UTC().Format(time.RFC3339Nano)},
		"query.start_time_max": {max.UTC().Format(time.RFC3339Nano)},
		"query.num_traces":     {"100"},
	}
	resp, err := http.Get(j.query + "/api/v3/traces?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil // none yet
	}
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("GET /api/v3/traces: %s: %s", resp.Status, b.String())
	}
	var body struct {
		Result struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Scope struct {
						Name string `json:"name"`
					} `json:"scope"`
					Spans []span `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string][]span{}
	for _, rs := range body.Result.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				s.Scope = ss.Scope.Name
				out[s.TraceID] = append(out[s.TraceID], s)
			}
		}
	}
	return out
}

var kinds = map[int]string{1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

// renderServer renders the subtree of the trace's server span: names, kinds and the attributes
// named in show, children in start order.
func renderServer(t *testing.T, spans []span, show []string) string {
	t.Helper()
	var b strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		var kids []span
		for _, s := range spans {
			if s.ParentSpanID == parent {
				kids = append(kids, s)
			}
		}
		slices.SortFunc(kids, func(a, b span) int {
			x, _ := strconv.ParseUint(a.Start, 10, 64)
			y, _ := strconv.ParseUint(b.Start, 10, 64)
			return cmpUint(x, y)
		})
		for _, s := range kids {
			fmt.Fprintf(&b, "%s%s [%s]", strings.Repeat("  ", depth), s.Name, kinds[s.Kind])
			for _, k := range show {
				if v, ok := s.attr(k); ok {
					fmt.Fprintf(&b, " %s=%s", k, v)
				}
			}
			b.WriteString("\n")
			walk(s.SpanID, depth+1)
		}
	}
	for _, s := range spans {
		if s.Kind == 2 {
			fmt.Fprintf(&b, "%s [server]\n", s.Name)
			walk(s.SpanID, 1)
			return b.String()
		}
	}
	t.Errorf("trace without a server span: %+v", spans)
	return ""
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
