package stratotel

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	httpcache "github.com/stratacache/strata/middleware/http"
)

// TestSpansHTTPMiddleware: a request served through the httpcache middleware inside otelhttp's
// handler nests the cache's spans under otelhttp's server span, itself under the client's span:
// the lookup, the handler and the store on a miss, the lookup alone on a hit.
func TestSpansHTTPMiddleware(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	hc, err := httpcache.New(httpcache.Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hc.Close() })
	calls := 0
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		_, span := h.app.Start(r.Context(), "render")
		defer span.End()
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = io.WriteString(w, "hello")
	})
	prop := propagation.TraceContext{}
	srv := httptest.NewServer(otelhttp.NewHandler(hc.Middleware(origin), "GET /page",
		otelhttp.WithTracerProvider(h.tp), otelhttp.WithPropagators(prop)))
	t.Cleanup(srv.Close)
	client := srv.Client()
	get := func(ctx context.Context) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/page", nil)
		if err != nil {
			t.Fatal(err)
		}
		prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "hello" {
			t.Fatalf("GET /page = %s %q", resp.Status, body)
		}
	}

	miss := h.request(context.Background(), get)
	hit := h.request(context.Background(), get)
	if calls != 1 {
		t.Fatalf("handler called %d times, want 1", calls)
	}
	// otelhttp names its server span after the method (and the route pattern, when a mux sets one).
	wantTree(t, h.tree(miss, show...), `
GET
  strata.get strata.result=miss strata.l1.result=miss
    strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
  render
  strata.set
    strata.tier.set strata.tier.name=redis strata.tier.level=2
`)
	wantTree(t, h.tree(hit, show...), `
GET
  strata.get strata.result=hit strata.tier.name=otter strata.tier.level=1 strata.l1.result=hit
`)
	for _, sc := range []trace.SpanContext{miss, hit} {
		server := h.span(t, sc, "GET")
		if server.SpanKind() != trace.SpanKindServer || server.Parent().SpanID() != sc.SpanID() {
			t.Errorf("server span: kind %v parent %v, want a server span under the client's %v", server.SpanKind(), server.Parent().SpanID(), sc.SpanID())
		}
	}
}
