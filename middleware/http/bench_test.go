package httpcache_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

var body2K = bytes.Repeat([]byte("0123456789abcdef"), 128)

// static writes the benchmark's 2 KiB response directly.
var static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Length", "2048")
	_, _ = w.Write(body2K)
})

func benchCache(b *testing.B, withRedis bool) *httpcache.Cache {
	b.Helper()
	// Bounded like a production L1 (the default is 256 MiB): BenchmarkHTTPMissStore stores a new
	// response per iteration, and an unbounded heap would slow the benchmarks run after it.
	l1, err := ottertier.New(ottertier.Options{MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l1.Close)
	opts := tiered.Options{Tiers: []tiered.Tier{{Backend: l1}}, Namespace: "bench" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"}
	if withRedis {
		l2, err := redistier.New(redistest.Shared(b).Client(b), redistier.Options{})
		if err != nil {
			b.Fatal(err)
		}
		opts.Tiers = append(opts.Tiers, tiered.Tier{Backend: l2, Timeout: time.Second})
	}
	tc, err := tiered.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tc.Close() })
	c, err := httpcache.New(httpcache.Options{Cache: tc})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func serve(b *testing.B, h http.Handler, r *http.Request) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.Len() != len(body2K) {
		b.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
	}
}

// BenchmarkHTTPStatic is the baseline: the handler writes the 2 KiB response itself.
func BenchmarkHTTPStatic(b *testing.B) {
	r := httptest.NewRequest("GET", "http://example.com/static", nil)
	b.ReportAllocs()
	for b.Loop() {
		serve(b, static, r)
	}
}

// BenchmarkHTTPHitL1 serves the same response from the in-process tier through the middleware.
func BenchmarkHTTPHitL1(b *testing.B) {
	h := benchCache(b, false).Middleware(static)
	r := httptest.NewRequest("GET", "http://example.com/static", nil)
	serve(b, h, r)
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, r)
	}
}

// BenchmarkHTTPHitVsStatic alternates blocks of BenchmarkHTTPStatic's and BenchmarkHTTPHitL1's
// requests and reports their mean costs and ratio: on a shared machine the load of others changes
// between two benchmarks run one after the other, not between two blocks run back to back.
func BenchmarkHTTPHitVsStatic(b *testing.B) {
	hit := benchCache(b, false).Middleware(static)
	r := httptest.NewRequest("GET", "http://example.com/static", nil)
	serve(b, hit, r)
	const block = 256
	var ts, th time.Duration
	run := func(h http.Handler) time.Duration {
		t0 := time.Now()
		for range block {
			serve(b, h, r)
		}
		return time.Since(t0)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 { // alternate which goes first
			ts += run(static)
			th += run(hit)
		} else {
			th += run(hit)
			ts += run(static)
		}
	}
	n := float64(b.N * block)
	b.ReportMetric(float64(ts)/n, "static-ns/req")
	b.ReportMetric(float64(th)/n, "hit-ns/req")
	b.ReportMetric(float64(th)/float64(ts), "x-static")
}

// BenchmarkHTTPMissStore measures a miss that calls the handler and stores its response, in the
// in-process tier alone and with Redis below it. It comes last in the file: the benchmarks run
// in file order, and the garbage and the Redis load it leaves behind would weigh on the
// ratio measured after it.
func BenchmarkHTTPMissStore(b *testing.B) {
	for _, withRedis := range []bool{false, true} {
		name := "l1"
		if withRedis {
			name = "l1+redis"
		}
		b.Run(name, func(b *testing.B) {
			h := benchCache(b, withRedis).Middleware(static)
			reqs := make([]*http.Request, 0, 1024)
			for i := range cap(reqs) {
				reqs = append(reqs, httptest.NewRequest("GET", "http://example.com/miss?i="+strconv.Itoa(i), nil))
			}
			round := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := reqs[i%len(reqs)]
				if i%len(reqs) == 0 {
					round++
					b.StopTimer()
					for j, rr := range reqs {
						rr.URL.RawQuery = "r=" + strconv.Itoa(round) + "&i=" + strconv.Itoa(j)
					}
					b.StartTimer()
				}
				serve(b, h, r)
				i++
			}
		})
	}
}
