package httpcachetest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	httpcache "github.com/stratacache/strata/middleware/http"
)

// RunSemantics runs the RFC 9111 behaviour suite against adapter, with an in-process store and
// with one over Redis.
func RunSemantics(t *testing.T, adapter Adapter) {
	Stores(t, adapter, httpcache.Options{MaxVariants: 4}, func(t *testing.T, env *Env) {
		t.Run("FreshHit", func(t *testing.T) { testFreshHit(t, env) })
		t.Run("Freshness", func(t *testing.T) { testFreshness(t, env) })
		t.Run("NoCacheRevalidates", func(t *testing.T) { testNoCache(t, env) })
		t.Run("StaleRevalidatedChanged", func(t *testing.T) { testStaleChanged(t, env) })
		t.Run("StaleWhileRevalidate", func(t *testing.T) { testSWR(t, env) })
		t.Run("StaleIfError", func(t *testing.T) { testSIE(t, env) })
		t.Run("RequestDirectives", func(t *testing.T) { testRequestDirectives(t, env) })
		t.Run("Vary", func(t *testing.T) { testVary(t, env) })
		t.Run("UnsafeInvalidates", func(t *testing.T) { testUnsafe(t, env) })
		t.Run("ConditionalFromCache", func(t *testing.T) { testConditional(t, env) })
		t.Run("Coalescing", func(t *testing.T) { testCoalescing(t, env) })
		t.Run("NoCoalescingOfUnstorable", func(t *testing.T) { testNoCoalescingUnstorable(t, env) })
		t.Run("CoalescedRevalidation", func(t *testing.T) { testCoalescedRevalidation(t, env) })
		t.Run("HeadersNotStored", func(t *testing.T) { testHeadersNotStored(t, env) })
		t.Run("FlushBypasses", func(t *testing.T) { testFlush(t, env) })
		t.Run("FromRedisAfterL1Loss", func(t *testing.T) { testFromRedis(t, env) })
		t.Run("CacheStatusOrderAndFwd", func(t *testing.T) { testCacheStatusOrder(t, env) })
		t.Run("StoredOnlyWhenStored", func(t *testing.T) { testStoredOnlyWhenStored(t, env) })
		t.Run("QueryMarkInKey", func(t *testing.T) { testQueryMark(t, env) })
		t.Run("StaleOnError", func(t *testing.T) { testStaleOnError(t, env) })
		t.Run("StaleOnConnectionError", func(t *testing.T) { testStaleOnConnectionError(t, env) })
		t.Run("HeuristicFreshness", func(t *testing.T) { testHeuristicFreshness(t, env) })
		t.Run("Ranges", func(t *testing.T) { testRanges(t, env) })
		t.Run("StorePOST", func(t *testing.T) { testStorePOST(t, env) })
		t.Run("NegotiateLanguage", func(t *testing.T) { testNegotiateLanguage(t, env) })
	})
}

func fixed(cc string, extra ...string) *Counter {
	return &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			w.Header().Set(extra[i], extra[i+1])
		}
		fmt.Fprintf(w, "body %d", n)
	}}
}

func status(w interface{ Header() http.Header }) string { return w.Header().Get("Cache-Status") }

func testFreshHit(t *testing.T, env *Env) {
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=60", "Surrogate-Key", "a b"))
	first := Do(h, "GET", "http://example.com/fresh")
	if got := status(first); got != "strata; fwd=uri-miss; fwd-status=200; stored" {
		t.Fatalf("miss Cache-Status = %q", got)
	}
	if first.Header().Get("Surrogate-Key") != "" {
		t.Fatal("surrogate keys reached the client")
	}
	second := Do(h, "GET", "http://example.com/fresh")
	if !Hit(second) || second.Body.String() != "body 1" || second.Header().Get("Age") == "" {
		t.Fatalf("hit: %q %q age=%q", status(second), second.Body, second.Header().Get("Age"))
	}
	if !strings.HasPrefix(status(second), "strata; hit; ttl=") || second.Header().Get("Surrogate-Key") != "" {
		t.Fatalf("hit Cache-Status = %q", status(second))
	}
	if second.Header().Get("Content-Length") != "6" {
		t.Fatalf("Content-Length = %q", second.Header().Get("Content-Length"))
	}
	if p := Do(h, "POST", "http://example.com/other"); !strings.Contains(status(p), "fwd=method") {
		t.Fatalf("POST Cache-Status = %q", status(p))
	}
}

func testFreshness(t *testing.T, env *Env) {
	now := time.Now().UTC()
	for _, tc := range []struct {
		name  string
		h     []string
		reuse bool
	}{
		{"s-maxage-wins", []string{"Cache-Control", "max-age=0, s-maxage=60"}, true},
		{"s-maxage-zero", []string{"Cache-Control", "max-age=60, s-maxage=0"}, false},
		{"expires", []string{"Expires", now.Add(time.Minute).Format(http.TimeFormat), "Date", now.Format(http.TimeFormat)}, true},
		{"expires-invalid", []string{"Expires", "0"}, false},
		{"expires-past", []string{"Expires", now.Add(-time.Minute).Format(http.TimeFormat)}, false},
		{"max-age-beats-expires", []string{"Cache-Control", "max-age=60", "Expires", now.Add(-time.Minute).Format(http.TimeFormat)}, true},
		{"age-exceeds", []string{"Cache-Control", "max-age=60", "Age", "120"}, false},
		{"max-age-invalid", []string{"Cache-Control", "max-age=abc"}, false},
		{"max-age-conflict", []string{"Cache-Control", "max-age=60, max-age=0"}, false},
		{"max-age-quoted", []string{"Cache-Control", `max-age="60"`}, true},
		{"404-explicit", []string{"Cache-Control", "max-age=60", ":status", "404"}, true},
		{"no-freshness", nil, false},
		{"public-only", []string{"Cache-Control", "public"}, false},
	} {
		origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			code := 200
			for i := 0; i+1 < len(tc.h); i += 2 {
				if tc.h[i] == ":status" {
					code, _ = strconv.Atoi(tc.h[i+1])
					continue
				}
				w.Header().Set(tc.h[i], tc.h[i+1])
			}
			w.WriteHeader(code)
			fmt.Fprintf(w, "body %d", n)
		}}
		h := env.Handler(t, httpcache.Route{}, origin)
		Do(h, "GET", "http://example.com/freshness/"+tc.name)
		w := Do(h, "GET", "http://example.com/freshness/"+tc.name)
		if Hit(w) != tc.reuse {
			t.Errorf("%s: reused = %v, want %v (%s)", tc.name, Hit(w), tc.reuse, status(w))
		}
	}
	// Age from upstream caches adds up.
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=600", "Age", "100"))
	Do(h, "GET", "http://example.com/freshness/age")
	w := Do(h, "GET", "http://example.com/freshness/age")
	if age, _ := strconv.Atoi(w.Header().Get("Age")); !Hit(w) || age < 100 {
		t.Errorf("Age = %q", w.Header().Get("Age"))
	}
}

func testNoCache(t *testing.T, env *Env) {
	var conds []string
	var mu sync.Mutex
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conds = append(conds, r.Header.Get("If-None-Match"))
		mu.Unlock()
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "the body")
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	Do(h, "GET", "http://example.com/nocache")
	w := Do(h, "GET", "http://example.com/nocache")
	if w.Code != 200 || w.Body.String() != "the body" || origin.N.Load() != 2 {
		t.Fatalf("revalidated response: %d %q calls=%d", w.Code, w.Body, origin.N.Load())
	}
	if conds[1] != `"v1"` || !strings.Contains(status(w), "fwd=stale; fwd-status=304") {
		t.Fatalf("conditional %q, Cache-Status %q", conds[1], status(w))
	}
	// The client's own validator is answered after revalidation.
	w = Do(h, "GET", "http://example.com/nocache", "If-None-Match", `"v1"`)
	if w.Code != 304 || w.Body.Len() != 0 {
		t.Fatalf("client conditional: %d", w.Code)
	}
}

func testStaleChanged(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Cache-Control", "max-age=10")
			w.Header().Set("Age", "20")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		w.Header().Set("Etag", fmt.Sprintf(`"v%d"`, n))
		fmt.Fprintf(w, "version %d", n)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	Do(h, "GET", "http://example.com/changed")
	w := Do(h, "GET", "http://example.com/changed")
	if w.Body.String() != "version 2" || Hit(w) {
		t.Fatalf("stale entry served: %q (%s)", w.Body, status(w))
	}
	w = Do(h, "GET", "http://example.com/changed")
	if w.Body.String() != "version 2" || !Hit(w) {
		t.Fatalf("new version not stored: %q (%s)", w.Body, status(w))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testSWR(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		if n == 1 {
			w.Header().Set("Age", "5")
		}
		fmt.Fprintf(w, "version %d", n)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	Do(h, "GET", "http://example.com/swr")
	w := Do(h, "GET", "http://example.com/swr")
	if w.Body.String() != "version 1" || !Hit(w) || !strings.Contains(status(w), "ttl=-") {
		t.Fatalf("stale not served: %q (%s)", w.Body, status(w))
	}
	waitFor(t, "background revalidation", func() bool {
		return Do(h, "GET", "http://example.com/swr").Body.String() == "version 2"
	})
	if n := origin.N.Load(); n != 2 {
		t.Fatalf("origin calls = %d, want 2", n)
	}
}

func testSIE(t *testing.T, env *Env) {
	for _, tc := range []struct {
		cc    string
		stale bool
	}{
		{"max-age=1, stale-if-error=60", true},
		{"max-age=1, stale-if-error=60, must-revalidate", false},
		{"max-age=1", false},
		{"max-age=1, stale-if-error=30", true}, // without a validator
	} {
		noETag := strings.HasSuffix(tc.cc, "=30")
		origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			if n > 1 {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Cache-Control", tc.cc)
			w.Header().Set("Age", "5")
			if !noETag {
				w.Header().Set("Etag", `"e"`)
			}
			fmt.Fprint(w, "good")
		}}
		h := env.Handler(t, httpcache.Route{}, origin)
		u := "http://example.com/sie/" + strings.NewReplacer(" ", "", ",", "", "=", "").Replace(tc.cc)
		Do(h, "GET", u)
		w := Do(h, "GET", u)
		if got := w.Code == 200 && w.Body.String() == "good"; got != tc.stale {
			t.Errorf("%s: stale served = %v (%d %q %s)", tc.cc, got, w.Code, w.Body, status(w))
		}
	}
}

func testRequestDirectives(t *testing.T, env *Env) {
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=60", "Etag", `"x"`))
	if w := Do(h, "GET", "http://example.com/rd", "Cache-Control", "only-if-cached"); w.Code != 504 {
		t.Fatalf("only-if-cached miss: %d", w.Code)
	}
	Do(h, "GET", "http://example.com/rd")
	if w := Do(h, "GET", "http://example.com/rd", "Cache-Control", "only-if-cached"); w.Code != 200 || !Hit(w) {
		t.Fatalf("only-if-cached hit: %d", w.Code)
	}
	for _, cc := range []string{"no-cache", "max-age=0", "min-fresh=120"} {
		if w := Do(h, "GET", "http://example.com/rd", "Cache-Control", cc); Hit(w) {
			t.Errorf("request %s answered from cache", cc)
		}
	}
	if w := Do(h, "GET", "http://example.com/rd", "Pragma", "no-cache"); Hit(w) {
		t.Error("Pragma: no-cache answered from cache")
	}
	// max-stale accepts a stale entry.
	hs := env.Handler(t, httpcache.Route{}, fixed("max-age=1", "Age", "10", "Etag", `"s"`))
	Do(hs, "GET", "http://example.com/rd/stale")
	if w := Do(hs, "GET", "http://example.com/rd/stale", "Cache-Control", "max-stale=60"); !Hit(w) {
		t.Errorf("max-stale=60 not served stale: %s", status(w))
	}
	if w := Do(hs, "GET", "http://example.com/rd/stale", "Cache-Control", "max-stale=2"); Hit(w) {
		t.Errorf("max-stale=2 served an entry stale by longer")
	}
	// A request no-store does not store.
	hn := env.Handler(t, httpcache.Route{}, fixed("max-age=60"))
	Do(hn, "GET", "http://example.com/rd/nostore", "Cache-Control", "no-store")
	if w := Do(hn, "GET", "http://example.com/rd/nostore"); Hit(w) {
		t.Error("response to a no-store request was stored")
	}
}

func testVary(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang %s", r.Header.Get("Accept-Language"))
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	en := Do(h, "GET", "http://example.com/vary", "Accept-Language", "en")
	fr := Do(h, "GET", "http://example.com/vary", "Accept-Language", "fr")
	if en.Body.String() != "lang en" || fr.Body.String() != "lang fr" || !strings.Contains(status(fr), "fwd=vary-miss") {
		t.Fatalf("variants: %q %q (%s)", en.Body, fr.Body, status(fr))
	}
	en2 := Do(h, "GET", "http://example.com/vary", "Accept-Language", "en")
	fr2 := Do(h, "GET", "http://example.com/vary", "Accept-Language", "fr")
	none := Do(h, "GET", "http://example.com/vary")
	if !Hit(en2) || en2.Body.String() != "lang en" || !Hit(fr2) || fr2.Body.String() != "lang fr" || Hit(none) {
		t.Fatalf("variant hits: %q %q %q", en2.Body, fr2.Body, none.Body)
	}
	// Language tags compare without regard to case, and spaces around commas do not count.
	if w := Do(h, "GET", "http://example.com/vary", "Accept-Language", "EN"); !Hit(w) || w.Body.String() != "lang en" {
		t.Fatalf("case-insensitive variant: %q (%s)", w.Body, status(w))
	}
	Do(h, "GET", "http://example.com/vary", "Accept-Language", "en,de")
	if w := Do(h, "GET", "http://example.com/vary", "Accept-Language", "en , de"); !Hit(w) {
		t.Fatalf("whitespace-normalized variant missed: %s", status(w))
	}
	// The variants per URL are capped (MaxVariants 4 in this suite): the oldest goes.
	for _, l := range []string{"es", "it"} {
		Do(h, "GET", "http://example.com/vary", "Accept-Language", l)
	}
	if w := Do(h, "GET", "http://example.com/vary", "Accept-Language", "it"); !Hit(w) {
		t.Fatal("newest variant missing")
	}
	if w := Do(h, "GET", "http://example.com/vary", "Accept-Language", "en"); Hit(w) {
		t.Fatal("variant cap not enforced")
	}
	// An unsafe request removes every variant.
	Do(h, "DELETE", "http://example.com/vary")
	if w := Do(h, "GET", "http://example.com/vary", "Accept-Language", "it"); Hit(w) {
		t.Fatal("variant survived an unsafe request")
	}
}

func testUnsafe(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/u/fail":
			w.WriteHeader(500)
		case r.Method == "POST" && r.URL.Path == "/u/create":
			w.Header().Set("Location", "/u/target")
			w.Header().Set("Content-Location", "http://other.example/u/target2")
			w.WriteHeader(201)
		case r.Method != "GET":
			w.WriteHeader(204)
		default:
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprintf(w, "get %d", n)
		}
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	warm := func(u string) {
		Do(h, "GET", u)
		if !Hit(Do(h, "GET", u)) {
			t.Fatalf("%s not stored", u)
		}
	}
	warm("http://example.com/u/a")
	Do(h, "PUT", "http://example.com/u/a")
	if Hit(Do(h, "GET", "http://example.com/u/a")) {
		t.Error("PUT did not invalidate")
	}
	warm("http://example.com/u/fail")
	Do(h, "POST", "http://example.com/u/fail")
	if !Hit(Do(h, "GET", "http://example.com/u/fail")) {
		t.Error("failed POST invalidated")
	}
	warm("http://example.com/u/target")
	warm("http://other.example/u/target2")
	Do(h, "POST", "http://example.com/u/create")
	if Hit(Do(h, "GET", "http://example.com/u/target")) {
		t.Error("same-origin Location not invalidated")
	}
	if !Hit(Do(h, "GET", "http://other.example/u/target2")) {
		t.Error("cross-origin Content-Location invalidated")
	}
}

func testConditional(t *testing.T, env *Env) {
	lm := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=60", "Etag", `W/"abc"`, "Last-Modified", lm))
	Do(h, "GET", "http://example.com/cond")
	w := Do(h, "GET", "http://example.com/cond", "If-None-Match", `"zzz", "abc"`)
	if w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("Etag") != `W/"abc"` || !Hit(w) {
		t.Fatalf("If-None-Match: %d %q", w.Code, w.Header().Get("Etag"))
	}
	if w := Do(h, "GET", "http://example.com/cond", "If-None-Match", `"zzz"`); w.Code != 200 {
		t.Fatalf("non-matching If-None-Match: %d", w.Code)
	}
	if w := Do(h, "GET", "http://example.com/cond", "If-Modified-Since", time.Now().UTC().Format(http.TimeFormat)); w.Code != 304 {
		t.Fatalf("If-Modified-Since: %d", w.Code)
	}
	if w := Do(h, "GET", "http://example.com/cond", "If-Modified-Since", time.Now().Add(-2*time.Hour).UTC().Format(http.TimeFormat)); w.Code != 200 {
		t.Fatalf("old If-Modified-Since: %d", w.Code)
	}
}

func testCoalescing(t *testing.T, env *Env) {
	release := make(chan struct{})
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "shared %d", n)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	var wg sync.WaitGroup
	bodies := make([]string, 10)
	statuses := make([]string, 10)
	for i := range 10 {
		wg.Go(func() {
			w := Do(h, "GET", "http://example.com/coalesce")
			bodies[i], statuses[i] = w.Body.String(), status(w)
		})
	}
	for origin.N.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others are waiting by now (or will find the entry)
	close(release)
	wg.Wait()
	collapsed := 0
	for i := range 10 {
		if bodies[i] != "shared 1" {
			t.Errorf("request %d got %q", i, bodies[i])
		}
		switch {
		case strings.Contains(statuses[i], "collapsed"):
			collapsed++
		case strings.Contains(statuses[i], "stored"), strings.Contains(statuses[i], "; hit"):
		default:
			t.Errorf("request %d: Cache-Status %q", i, statuses[i])
		}
	}
	if origin.N.Load() != 1 {
		t.Fatalf("origin calls = %d, want 1", origin.N.Load())
	}
	t.Logf("%d of 9 requests collapsed into the first", collapsed)
}

func testNoCoalescingUnstorable(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Set-Cookie", "id="+r.URL.Query().Get("id"))
		fmt.Fprintf(w, "for %s", r.Header.Get("X-Client"))
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			c := strconv.Itoa(i)
			w := Do(h, "GET", "http://example.com/nocoalesce", "X-Client", c)
			if w.Body.String() != "for "+c {
				t.Errorf("client %s got %q", c, w.Body)
			}
		})
	}
	wg.Wait()
	if origin.N.Load() != 10 {
		t.Fatalf("origin calls = %d, want 10", origin.N.Load())
	}
}

func testHeadersNotStored(t *testing.T, env *Env) {
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=60", "Connection", "X-Hop", "X-Hop", "secret", "Keep-Alive", "timeout=5", "X-End", "kept"))
	Do(h, "GET", "http://example.com/hop")
	w := Do(h, "GET", "http://example.com/hop")
	if !Hit(w) || w.Header().Get("X-Hop") != "" || w.Header().Get("Keep-Alive") != "" || w.Header().Get("X-End") != "kept" {
		t.Fatalf("stored headers: %v", w.Header())
	}
}

func testFlush(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "part 1")
		http.NewResponseController(w).Flush()
		fmt.Fprint(w, "part 2")
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	w := Do(h, "GET", "http://example.com/flush")
	if w.Body.String() != "part 1part 2" || !w.Flushed {
		t.Fatalf("flushed response: %q flushed=%v", w.Body, w.Flushed)
	}
	if Hit(Do(h, "GET", "http://example.com/flush")) {
		t.Fatal("flushed response stored")
	}
	sse := fixed("max-age=60", "Content-Type", "text/event-stream")
	hs := env.Handler(t, httpcache.Route{}, sse)
	Do(hs, "GET", "http://example.com/sse")
	if Hit(Do(hs, "GET", "http://example.com/sse")) {
		t.Fatal("event stream stored")
	}
}

func testFromRedis(t *testing.T, env *Env) {
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=60", "Vary", "Accept", "Etag", `"r"`))
	Do(h, "GET", "http://example.com/redis", "Accept", "text/html")
	env.ClearL1(t)
	w := Do(h, "GET", "http://example.com/redis", "Accept", "text/html")
	if env.Redis == nil {
		if Hit(w) {
			t.Fatal("hit after clearing the only tier")
		}
		return
	}
	if !Hit(w) || w.Body.String() != "body 1" || w.Header().Get("Etag") != `"r"` {
		t.Fatalf("Redis hit: %q %q (%s)", w.Body, w.Header().Get("Etag"), status(w))
	}
}

func testCoalescedRevalidation(t *testing.T, env *Env) {
	release := make(chan struct{})
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"r1"`)
		if n == 1 {
			w.Header().Set("Cache-Control", "max-age=1")
			w.Header().Set("Age", "5")
			fmt.Fprint(w, "stored body")
			return
		}
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Header.Get("If-None-Match") == `"r1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "unexpected full body")
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	Do(h, "GET", "http://example.com/reval")
	var wg sync.WaitGroup
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Go(func() { bodies[i] = Do(h, "GET", "http://example.com/reval").Body.String() })
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, b := range bodies {
		if b != "stored body" {
			t.Errorf("request %d got %q", i, b)
		}
	}
	if n := origin.N.Load(); n != 2 {
		t.Fatalf("origin calls = %d, want 2 (store, one revalidation)", n)
	}
	if w := Do(h, "GET", "http://example.com/reval"); !Hit(w) {
		t.Fatalf("freshened entry not reused: %s", status(w))
	}
}
