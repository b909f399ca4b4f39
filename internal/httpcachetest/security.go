package httpcachetest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
)

// RunSecurity runs the security suite against adapter, with an in-process store and with one
// over Redis.
func RunSecurity(t *testing.T, adapter Adapter) {
	Stores(t, adapter, httpcache.Options{}, func(t *testing.T, env *Env) {
		t.Run("AuthorizationNotShared", func(t *testing.T) { testAuthorization(t, env) })
		t.Run("SetCookieNotReplayed", func(t *testing.T) { testSetCookie(t, env) })
		t.Run("PrivateNotStored", func(t *testing.T) { testPrivate(t, env) })
		t.Run("HostInKey", func(t *testing.T) { testHostInKey(t, env) })
		t.Run("ForwardedHostCannotPoison", func(t *testing.T) { testForwardedHost(t, env) })
		t.Run("ForwardedHostCannotPoisonRevalidation", func(t *testing.T) { testForwardedHostRevalidation(t, env) })
		t.Run("GetWithBodyBypasses", func(t *testing.T) { testGetWithBody(t, env) })
		t.Run("PartialAndNotModifiedNeverServed", func(t *testing.T) { testPartialAndNotModified(t, env) })
		t.Run("HeadThenGetColdCache", func(t *testing.T) { testHeadThenGet(t, env) })
		t.Run("LargeBodyStreamsWithBoundedMemory", func(t *testing.T) { testLargeBody(t, env) })
		t.Run("CorruptEntryIsAMiss", func(t *testing.T) { testCorrupt(t, env) })
		t.Run("ConcurrentDistinctAuthorization", func(t *testing.T) { testConcurrentAuth(t, env) })
		t.Run("StrategyNeverOverridesSecurity", func(t *testing.T) { testStrategySecurity(t, env) })
	})
}

func testAuthorization(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "for %s", r.Header.Get("Authorization"))
	}}
	h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
	a := Do(h, "GET", "http://example.com/auth", "Authorization", "Bearer alice")
	b := Do(h, "GET", "http://example.com/auth", "Authorization", "Bearer bob")
	anon := Do(h, "GET", "http://example.com/auth")
	if a.Body.String() != "for Bearer alice" || b.Body.String() != "for Bearer bob" || anon.Body.String() != "for " {
		t.Fatalf("bodies: %q %q %q", a.Body, b.Body, anon.Body)
	}
	if origin.N.Load() != 3 {
		t.Fatalf("origin calls = %d, want 3", origin.N.Load())
	}
	// An anonymous response is stored; a request with Authorization does not get it.
	Do(h, "GET", "http://example.com/auth")
	c := Do(h, "GET", "http://example.com/auth", "Authorization", "Bearer carol")
	if c.Body.String() != "for Bearer carol" || Hit(c) {
		t.Fatalf("authorized request got a shared entry: %q (%s)", c.Body, c.Header().Get("Cache-Status"))
	}
}

func testSetCookie(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Set-Cookie", fmt.Sprintf("session=secret%d", n))
		fmt.Fprint(w, "page")
	}}
	h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
	first := Do(h, "GET", "http://example.com/cookie")
	second := Do(h, "GET", "http://example.com/cookie")
	if first.Header().Get("Set-Cookie") != "session=secret1" {
		t.Fatalf("first response lost its cookie: %q", first.Header().Get("Set-Cookie"))
	}
	if got := second.Header().Get("Set-Cookie"); got != "session=secret2" || Hit(second) {
		t.Fatalf("Set-Cookie replayed: %q (%s)", got, second.Header().Get("Cache-Status"))
	}
}

func testPrivate(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		fmt.Fprintf(w, "private %d", n)
	}}
	h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
	Do(h, "GET", "http://example.com/private")
	w := Do(h, "GET", "http://example.com/private")
	if w.Body.String() != "private 2" || origin.N.Load() != 2 {
		t.Fatalf("private response stored: %q", w.Body)
	}
}

func testHostInKey(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "host %s", r.Host)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	do := func(target, host string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", target, nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	first := do("http://a.example/h", "A.Example:80")
	again := do("http://a.example/h", "a.example")
	if !Hit(again) || again.Body.String() != first.Body.String() {
		t.Fatalf("normalized host missed: %q %q", first.Body, again.Body)
	}
	other := do("http://b.example/h", "b.example")
	if Hit(other) || other.Body.String() != "host b.example" {
		t.Fatalf("other host served another host's entry: %q", other.Body)
	}
	tls1 := do("https://a.example:443/h", "a.example:443")
	if Hit(tls1) {
		t.Fatal("https request served the http entry")
	}
	tls2 := do("https://a.example/h", "A.example")
	if !Hit(tls2) {
		t.Fatal("https default port not stripped")
	}
	if origin.N.Load() != 3 {
		t.Fatalf("origin calls = %d, want 3", origin.N.Load())
	}

	// The scheme comes from the connection, not from an absolute-form request line: a plain
	// HTTP request for "https://..." cannot fill the entry HTTPS clients get.
	schemes := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.TLS != nil {
			fmt.Fprint(w, "over tls")
		} else {
			fmt.Fprint(w, "over plain http")
		}
	}}
	hs := env.Handler(t, httpcache.Route{}, schemes)
	plain := httptest.NewRequest("GET", "http://s.example/scheme", nil)
	plain.URL.Scheme, plain.URL.Host = "https", "s.example" // GET https://s.example/scheme on a plain connection
	hs.ServeHTTP(httptest.NewRecorder(), plain)
	secure := httptest.NewRecorder()
	hs.ServeHTTP(secure, httptest.NewRequest("GET", "https://s.example/scheme", nil))
	if secure.Body.String() != "over tls" {
		t.Fatalf("https request served what a plain request stored: %q (%s)", secure.Body, secure.Header().Get("Cache-Status"))
	}
}

func testForwardedHost(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		host := r.Header.Get("X-Forwarded-Host")
		if host == "" {
			host = r.Host
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, `<script src="https://%s/app.js"></script>`, host)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	evil := Do(h, "GET", "http://example.com/poison", "X-Forwarded-Host", "evil.example")
	if !strings.Contains(evil.Body.String(), "evil.example") {
		t.Fatalf("handler did not reflect: %q", evil.Body)
	}
	clean := Do(h, "GET", "http://example.com/poison")
	if strings.Contains(clean.Body.String(), "evil") {
		t.Fatalf("poisoned entry served to a clean request: %q", clean.Body)
	}
	again := Do(h, "GET", "http://example.com/poison")
	if !Hit(again) || strings.Contains(again.Body.String(), "evil") {
		t.Fatalf("clean entry not reused: %q (%s)", again.Body, again.Header().Get("Cache-Status"))
	}
	// A request with the header is still answered from the clean entry, and cannot replace it.
	Do(h, "GET", "http://example.com/poison", "X-Forwarded-Host", "evil.example")
	final := Do(h, "GET", "http://example.com/poison")
	if strings.Contains(final.Body.String(), "evil") {
		t.Fatalf("entry replaced by a poisoned response: %q", final.Body)
	}
}

// testForwardedHostRevalidation: a 304 to a revalidation carrying an unkeyed header may reflect
// it in its headers; the freshened entry is served to that request but not stored, in the
// request's own revalidation and in a background one (stale-while-revalidate).
func testForwardedHostRevalidation(t *testing.T, env *Env) {
	for _, tc := range []struct{ name, cc string }{
		{"sync", "max-age=1"},
		{"background", "max-age=1, stale-while-revalidate=60"},
	} {
		origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"v1"`)
			host := r.Header.Get("X-Forwarded-Host")
			if host == "" {
				host = r.Host
			}
			w.Header().Set("Link", "<https://"+host+"/app.js>; rel=preload")
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.Header().Set("Cache-Control", "max-age=60")
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Cache-Control", tc.cc)
			w.Header().Set("Age", "5") // stale at once
			fmt.Fprint(w, "page")
		}}
		h := env.Handler(t, httpcache.Route{}, origin)
		target := "http://example.com/poison-304/" + tc.name
		if w := Do(h, "GET", target); strings.Contains(w.Header().Get("Link"), "evil") {
			t.Fatalf("%s: first response: %q", tc.name, w.Header().Get("Link"))
		}
		Do(h, "GET", target, "X-Forwarded-Host", "evil.example")
		waitFor(t, "revalidation", func() bool { return origin.N.Load() >= 2 })
		deadline := time.Now().Add(5 * time.Second)
		for {
			w := Do(h, "GET", target)
			if strings.Contains(w.Header().Get("Link"), "evil") {
				t.Fatalf("%s: poisoned headers served to a clean request: %q (%s)", tc.name, w.Header().Get("Link"), status(w))
			}
			if Hit(w) && !strings.Contains(status(w), "stale") && !strings.Contains(status(w), "fwd=") {
				break // a fresh entry from a clean revalidation
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: entry never freshened: %s", tc.name, status(w))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func testGetWithBody(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "got %q", b)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	r := httptest.NewRequest("GET", "http://example.com/body", strings.NewReader("select=secret"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Body.String() != `got "select=secret"` || !strings.Contains(w.Header().Get("Cache-Status"), "fwd=bypass") {
		t.Fatalf("GET with body: %q (%s)", w.Body, w.Header().Get("Cache-Status"))
	}
	plain := Do(h, "GET", "http://example.com/body")
	if plain.Body.String() != `got ""` || Hit(plain) {
		t.Fatalf("response to a GET with body was stored: %q", plain.Body)
	}
	// And an entry stored for the plain GET is not served to a GET with a body.
	r = httptest.NewRequest("GET", "http://example.com/body", strings.NewReader("x"))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Body.String() != `got "x"` {
		t.Fatalf("GET with body served from cache: %q", w.Body)
	}
}

func testPartialAndNotModified(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Etag", `"v1"`)
		switch {
		case r.Header.Get("If-None-Match") != "":
			w.WriteHeader(http.StatusNotModified)
		case r.Header.Get("Range") != "":
			w.Header().Set("Content-Range", "bytes 0-1/10")
			w.WriteHeader(http.StatusPartialContent)
			fmt.Fprint(w, "01")
		default:
			fmt.Fprint(w, "0123456789")
		}
	}}
	h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
	if w := Do(h, "GET", "http://example.com/pn", "Range", "bytes=0-1"); w.Code != 206 {
		t.Fatalf("range: %d", w.Code)
	}
	if w := Do(h, "GET", "http://example.com/pn", "If-None-Match", `"v1"`); w.Code != 304 {
		t.Fatalf("conditional: %d", w.Code)
	}
	w := Do(h, "GET", "http://example.com/pn")
	if w.Code != 200 || w.Body.String() != "0123456789" || Hit(w) {
		t.Fatalf("unconditional request got %d %q (%s)", w.Code, w.Body, w.Header().Get("Cache-Status"))
	}
	w = Do(h, "GET", "http://example.com/pn")
	if w.Code != 200 || w.Body.String() != "0123456789" || !Hit(w) {
		t.Fatalf("full response not reused: %d %q", w.Code, w.Body)
	}
	// A 304 a misbehaving handler sends to an unconditional request is not stored either.
	bad := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if n == 1 {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "full")
	}}
	h2 := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, bad)
	Do(h2, "GET", "http://example.com/bad304")
	if w := Do(h2, "GET", "http://example.com/bad304"); w.Code != 200 || w.Body.String() != "full" {
		t.Fatalf("stored 304 served: %d %q", w.Code, w.Body)
	}
}

func testHeadThenGet(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "the full body")
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	head := Do(h, "HEAD", "http://example.com/hg")
	if head.Code != 200 {
		t.Fatalf("HEAD: %d", head.Code)
	}
	get := Do(h, "GET", "http://example.com/hg")
	if get.Body.String() != "the full body" {
		t.Fatalf("GET after HEAD: %q", get.Body)
	}
	get2 := Do(h, "GET", "http://example.com/hg")
	head2 := Do(h, "HEAD", "http://example.com/hg")
	if !Hit(get2) || get2.Body.String() != "the full body" || !Hit(head2) || head2.Body.Len() != 0 {
		t.Fatalf("GET/HEAD from stored GET: %q %v / %q %v", get2.Body, Hit(get2), head2.Body, Hit(head2))
	}
}

func testLargeBody(t *testing.T, env *Env) {
	const size = 50 << 20
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte('a' + i%26)
	}
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Query().Get("cl") == "1" {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}}
	srv := httptest.NewServer(env.Handler(t, httpcache.Route{}, origin))
	defer srv.Close()
	client := srv.Client()
	for _, q := range []string{"cl=0", "cl=1"} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := client.Get(srv.URL + "/large?" + q)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			t.Fatalf("%s: read %d bytes, err %v", q, n, err)
		}
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d MiB streamed, %.1f MiB allocated", q, size>>20, float64(alloc)/(1<<20))
		if alloc > 24<<20 {
			t.Fatalf("%s: streaming 50 MiB allocated %d MiB", q, alloc>>20)
		}
		resp, err = client.Get(srv.URL + "/large?" + q)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
			t.Fatalf("%s: an over-cap body was stored", q)
		}
	}
	client.CloseIdleConnections()
}

func testCorrupt(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "fresh %d", n)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	const key = "http:http://example.com/corrupt"
	ctx := Ctx(t)
	Do(h, "GET", "http://example.com/corrupt")
	if w := Do(h, "GET", "http://example.com/corrupt"); !Hit(w) {
		t.Fatal("not stored")
	}
	// A value of another type under the key.
	if err := env.Tiered.Set(ctx, key, "not an entry", tiered.Custom(time.Minute)); err != nil {
		t.Fatal(err)
	}
	w := Do(h, "GET", "http://example.com/corrupt")
	if w.Code != 200 || w.Body.String() != "fresh 2" {
		t.Fatalf("foreign value: %d %q", w.Code, w.Body)
	}
	if env.Redis == nil {
		return
	}
	// Damaged bytes in Redis, with L1 empty.
	raw, err := env.Redis.Get(ctx, env.Namespace+key).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for i, damaged := range [][]byte{
		raw[:len(raw)-3],
		append(append([]byte{}, raw[:len(raw)/2]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		[]byte("garbage"),
	} {
		env.ClearL1(t)
		if err := env.Redis.Set(ctx, env.Namespace+key, damaged, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		w := Do(h, "GET", "http://example.com/corrupt")
		if w.Code != 200 || w.Body.String() != fmt.Sprintf("fresh %d", 3+i) {
			t.Fatalf("damaged entry %d: %d %q", i, w.Code, w.Body)
		}
	}
}

func testConcurrentAuth(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Cache-Control", "private, max-age=60")
		fmt.Fprintf(w, "account of %s", r.Header.Get("Authorization"))
	}}
	h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := range 50 {
		wg.Go(func() {
			auth := fmt.Sprintf("Bearer user%d", i)
			w := Do(h, "GET", "http://example.com/account", "Authorization", auth)
			if w.Body.String() != "account of "+auth {
				errs <- fmt.Sprintf("%s got %q", auth, w.Body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if origin.N.Load() != 50 {
		t.Fatalf("origin calls = %d, want 50", origin.N.Load())
	}
}

func testStrategySecurity(t *testing.T, env *Env) {
	for _, tc := range []struct {
		name string
		set  func(w http.ResponseWriter)
	}{
		// Header names written straight into the map, not canonicalised, count all the same.
		{"lower-case-set-cookie", func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header()["set-cookie"] = []string{"session=secret"}
		}},
		{"lower-case-cache-control", func(w http.ResponseWriter) { w.Header()["cache-control"] = []string{"no-store"} }},
		{"lower-case-private", func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header()["cache-control"] = []string{"private"}
		}},
		{"lower-case-vary-star", func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header()["vary"] = []string{"*"}
		}},
		{"no-freshness-404", func(w http.ResponseWriter) { w.WriteHeader(404) }},
		{"no-freshness-500", func(w http.ResponseWriter) { w.WriteHeader(500) }},
		{"no-store", func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }},
		{"vary-star", func(w http.ResponseWriter) { w.Header().Set("Vary", "*") }},
		{"set-cookie", func(w http.ResponseWriter) { w.Header().Set("Set-Cookie", "a=b") }},
	} {
		origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			tc.set(w)
			fmt.Fprintf(w, "%d", n)
		}}
		h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
		Do(h, "GET", "http://example.com/strategy/"+tc.name)
		if w := Do(h, "GET", "http://example.com/strategy/"+tc.name); Hit(w) || origin.N.Load() != 2 {
			t.Errorf("%s: stored under a route strategy", tc.name)
		}
	}
	// A response to a request with Authorization never takes the route's default TTL: public or
	// must-revalidate without explicit freshness does not make it shareable.
	for _, cc := range []string{"must-revalidate", "public", "public, must-revalidate"} {
		origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("Etag", fmt.Sprintf(`"e%d"`, n))
			fmt.Fprintf(w, "for %s", r.Header.Get("Authorization"))
		}}
		h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
		target := "http://example.com/strategy/auth/" + strings.ReplaceAll(cc, " ", "")
		Do(h, "GET", target, "Authorization", "Bearer alice")
		for _, auth := range []string{"Bearer bob", ""} {
			var w *httptest.ResponseRecorder
			if auth == "" {
				w = Do(h, "GET", target)
			} else {
				w = Do(h, "GET", target, "Authorization", auth)
			}
			if strings.Contains(w.Body.String(), "alice") || Hit(w) {
				t.Errorf("%s: response to an authorized request shared: %q (%s)", cc, w.Body, w.Header().Get("Cache-Status"))
			}
		}
	}
	// The strategy does apply to a plain 200.
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%d", n) }}
	h := env.Handler(t, httpcache.Route{Strategy: tiered.LongTerm}, origin)
	Do(h, "GET", "http://example.com/strategy/plain")
	if w := Do(h, "GET", "http://example.com/strategy/plain"); !Hit(w) || w.Body.String() != "1" {
		t.Errorf("route strategy not applied to a plain 200")
	}
	// And without a strategy nothing without freshness is reused.
	h = env.Handler(t, httpcache.Route{}, origin)
	Do(h, "GET", "http://example.com/strategy/none")
	if w := Do(h, "GET", "http://example.com/strategy/none"); Hit(w) {
		t.Errorf("response without freshness reused by default")
	}
}
