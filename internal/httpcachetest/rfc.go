package httpcachetest

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	httpcache "github.com/stratacache/strata/middleware/http"
)

// withOptions builds a fresh engine of env's kind with opts, for tests that need options of
// their own.
func withOptions(t *testing.T, env *Env, opts httpcache.Options) *Env {
	t.Helper()
	return NewEnv(t, env.Name, env.adapter, opts)
}

// testCacheStatusOrder checks RFC 9211 §2: this cache's member comes after those of the caches
// nearer the origin, and the fwd values name why the request was forwarded.
func testCacheStatusOrder(t *testing.T, env *Env) {
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=60", "Cache-Status", "origin-cdn; hit"))
	w := Do(h, "GET", "http://example.com/cs/order")
	if got := status(w); got != "origin-cdn; hit, strata; fwd=uri-miss; fwd-status=200; stored" {
		t.Fatalf("miss Cache-Status = %q", got)
	}
	w = Do(h, "GET", "http://example.com/cs/order")
	// A hit went through no cache nearer the origin: their members are not replayed.
	if got := status(w); !strings.HasPrefix(got, "strata; hit; ttl=") || !Hit(w) {
		t.Fatalf("hit Cache-Status = %q", got)
	}
	// A client no-cache on a fresh entry: fwd=request, not stale.
	w = Do(h, "GET", "http://example.com/cs/order", "Cache-Control", "no-cache")
	if got := status(w); !strings.Contains(got, "strata; fwd=request; fwd-status=200; stored") {
		t.Fatalf("no-cache request Cache-Status = %q", got)
	}
	// A request with Authorization on a stored URL: the stored response exists but may not be
	// used for this request.
	w = Do(h, "GET", "http://example.com/cs/order", "Authorization", "Bearer x")
	if got := status(w); !strings.Contains(got, "strata; fwd=request;") {
		t.Fatalf("Authorization Cache-Status = %q", got)
	}
	// A stale entry: fwd=stale.
	hs := env.Handler(t, httpcache.Route{}, fixed("max-age=1", "Age", "5", "Etag", `"s"`))
	Do(hs, "GET", "http://example.com/cs/stale")
	if got := status(Do(hs, "GET", "http://example.com/cs/stale")); got != "strata; fwd=stale; fwd-status=200; stored" {
		t.Fatalf("stale Cache-Status = %q", got)
	}
}

// testStoredOnlyWhenStored checks that Cache-Status says "stored" only of responses that were,
// and that a Content-Length over the cap is streamed without buffering.
func testStoredOnlyWhenStored(t *testing.T, env *Env) {
	e := withOptions(t, env, httpcache.Options{MaxBodySize: 64})
	big := strings.Repeat("x", 100)
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		body := big
		if r.URL.Query().Get("small") == "1" {
			body = "small"
		}
		if r.URL.Query().Get("cl") == "1" {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		}
		// Written in pieces, so that an unknown length is found too large only on the way.
		for i := 0; i < len(body); i += 10 {
			_, _ = io.WriteString(w, body[i:min(i+10, len(body))])
		}
	}}
	h := e.Handler(t, httpcache.Route{}, origin)
	for _, q := range []string{"cl=1", "cl=0"} {
		u := "http://example.com/stored?" + q
		w := Do(h, "GET", u)
		if w.Body.String() != big || w.Code != 200 {
			t.Fatalf("%s: %d, %d bytes", q, w.Code, w.Body.Len())
		}
		if got := status(w); strings.Contains(got, "stored") || !strings.Contains(got, "detail=too-large") {
			t.Fatalf("%s: over-cap response Cache-Status = %q", q, got)
		}
		if Hit(Do(h, "GET", u)) {
			t.Fatalf("%s: over-cap response stored", q)
		}
	}
	for _, q := range []string{"cl=1&small=1", "cl=0&small=1"} {
		u := "http://example.com/stored?" + q
		w := Do(h, "GET", u)
		if got := status(w); !strings.HasSuffix(got, "; stored") {
			t.Fatalf("%s: Cache-Status = %q", q, got)
		}
		if w.Header().Get("Content-Length") != "5" || w.Body.String() != "small" {
			t.Fatalf("%s: Content-Length %q body %q", q, w.Header().Get("Content-Length"), w.Body)
		}
		if !Hit(Do(h, "GET", u)) {
			t.Fatalf("%s: stored response not reused", q)
		}
	}
}

// testQueryMark checks that /p and /p? are different targets (RFC 3986 §6.2.3): the origin may
// answer them differently, so one is not served for the other.
func testQueryMark(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s forcequery=%v", r.URL.Path, r.URL.ForceQuery)
	}}
	h := env.Handler(t, httpcache.Route{}, origin)
	plain := Do(h, "GET", "http://example.com/p")
	empty := Do(h, "GET", "http://example.com/p?")
	if plain.Body.String() != "/p forcequery=false" || empty.Body.String() != "/p forcequery=true" || Hit(empty) {
		t.Fatalf("/p and /p? shared an entry: %q %q (%s)", plain.Body, empty.Body, status(empty))
	}
	if !Hit(Do(h, "GET", "http://example.com/p")) || !Hit(Do(h, "GET", "http://example.com/p?")) {
		t.Fatal("/p or /p? not reused")
	}
	if n := origin.N.Load(); n != 2 {
		t.Fatalf("origin calls = %d, want 2", n)
	}
}

// testStaleOnError checks serving stale when the origin fails (RFC 9111 §4.2.4): within
// Options.MaxStaleOnError, never when must-revalidate, proxy-revalidate, no-cache or s-maxage
// forbid it, and reported in Cache-Status.
func testStaleOnError(t *testing.T, env *Env) {
	for _, tc := range []struct {
		cc    string
		stale bool
	}{
		{"max-age=1", true},
		{"max-age=1, must-revalidate", false},
		{"max-age=1, proxy-revalidate", false},
		{"max-age=1, no-cache", false},
		{"max-age=1, s-maxage=1", false},
		{"s-maxage=1", false},
	} {
		for _, failure := range []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError} {
			e := withOptions(t, env, httpcache.Options{MaxStaleOnError: time.Hour})
			origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				if n > 1 {
					w.WriteHeader(failure)
					return
				}
				w.Header().Set("Cache-Control", tc.cc)
				w.Header().Set("Etag", `"e"`)
				w.Header().Set("Age", "30")
				fmt.Fprint(w, "good")
			}}
			h := e.Handler(t, httpcache.Route{}, origin)
			Do(h, "GET", "http://example.com/soe")
			w := Do(h, "GET", "http://example.com/soe")
			got := w.Code == 200 && w.Body.String() == "good"
			if got != tc.stale {
				t.Errorf("%s, origin %d: stale served = %v (%d %q %s)", tc.cc, failure, got, w.Code, w.Body, status(w))
				continue
			}
			want := fmt.Sprintf("strata; fwd=stale; fwd-status=%d", failure)
			if tc.stale {
				want += "; ttl=-29; detail=origin-error"
			}
			if st := status(w); !strings.HasPrefix(st, want) || Hit(w) {
				t.Errorf("%s, origin %d: Cache-Status = %q, want %q", tc.cc, failure, st, want)
			}
		}
	}
	// Beyond MaxStaleOnError, or without it and without stale-if-error, the error goes through.
	for _, opts := range []httpcache.Options{{MaxStaleOnError: 10 * time.Second}, {}} {
		e := withOptions(t, env, opts)
		origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			if n > 1 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.Header().Set("Cache-Control", "max-age=1")
			w.Header().Set("Etag", `"e"`)
			w.Header().Set("Age", "30")
			fmt.Fprint(w, "good")
		}}
		h := e.Handler(t, httpcache.Route{}, origin)
		Do(h, "GET", "http://example.com/soe/limit")
		if w := Do(h, "GET", "http://example.com/soe/limit"); w.Code != http.StatusBadGateway {
			t.Errorf("MaxStaleOnError %v: %d %q (%s)", opts.MaxStaleOnError, w.Code, w.Body, status(w))
		}
	}
	// Within a stale-if-error window, the detail says so.
	e := withOptions(t, env, httpcache.Options{MaxStaleOnError: time.Hour})
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-if-error=600")
		w.Header().Set("Age", "30")
		fmt.Fprint(w, "good")
	}}
	h := e.Handler(t, httpcache.Route{}, origin)
	Do(h, "GET", "http://example.com/soe/sie")
	if w := Do(h, "GET", "http://example.com/soe/sie"); w.Body.String() != "good" || !strings.HasSuffix(status(w), "detail=stale-if-error") {
		t.Errorf("stale-if-error: %q (%s)", w.Body, status(w))
	}
}

// testStaleOnConnectionError runs the origin behind a real reverse-proxy-like hop: when the
// origin's connection fails, the hop answers 502 and the stale entry is served.
func testStaleOnConnectionError(t *testing.T, env *Env) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("Age", "10")
		fmt.Fprint(w, "from upstream")
	}))
	url := upstream.URL
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(url + r.URL.Path)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	e := withOptions(t, env, httpcache.Options{MaxStaleOnError: time.Hour})
	h := e.Handler(t, httpcache.Route{}, proxy)
	if w := Do(h, "GET", "http://example.com/conn"); w.Body.String() != "from upstream" {
		t.Fatalf("first: %d %q", w.Code, w.Body)
	}
	upstream.Close() // the origin is gone
	w := Do(h, "GET", "http://example.com/conn")
	if w.Code != 200 || w.Body.String() != "from upstream" || !strings.Contains(status(w), "fwd-status=502") {
		t.Fatalf("origin down: %d %q (%s)", w.Code, w.Body, status(w))
	}
	http.DefaultClient.CloseIdleConnections()
}

// testHeuristicFreshness checks RFC 9111 §4.2.2: off unless Options.MaxHeuristicFreshness is
// set, then a fraction of the time since Last-Modified, capped, for heuristically cacheable
// statuses or public responses only.
func testHeuristicFreshness(t *testing.T, env *Env) {
	now := time.Now().UTC()
	origin := func(code int, lm time.Time, cc string) *Counter {
		return &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Last-Modified", lm.Format(http.TimeFormat))
			w.Header().Set("Date", now.Format(http.TimeFormat))
			if cc != "" {
				w.Header().Set("Cache-Control", cc)
			}
			w.WriteHeader(code)
			fmt.Fprintf(w, "call %d", n)
		}}
	}
	tenDays := now.Add(-240 * time.Hour)
	off := env.Handler(t, httpcache.Route{}, origin(200, tenDays, ""))
	Do(off, "GET", "http://example.com/heur/off")
	if w := Do(off, "GET", "http://example.com/heur/off"); Hit(w) {
		t.Fatalf("heuristic freshness on by default: %s", status(w))
	}
	e := withOptions(t, env, httpcache.Options{MaxHeuristicFreshness: time.Hour})
	for _, tc := range []struct {
		code  int
		lm    time.Time
		cc    string
		reuse bool
	}{
		{200, tenDays, "", true},
		{203, tenDays, "", true},
		{204, tenDays, "", true},
		{404, tenDays, "", true},
		{405, tenDays, "", true},
		{410, tenDays, "", true},
		{414, tenDays, "", true},
		{501, tenDays, "", true},
		{201, tenDays, "", false},
		{202, tenDays, "", false},
		{403, tenDays, "", false},
		{502, tenDays, "", false},
		{503, tenDays, "", false},
		{504, tenDays, "", false},
		{599, tenDays, "", false},
		{599, tenDays, "public", true},
		{200, now.Add(time.Hour), "", false}, // Last-Modified in the future
		{200, now, "", false},                // no time since Last-Modified
		{200, tenDays, "no-cache", false},
	} {
		u := fmt.Sprintf("http://example.com/heur/%d/%d/%s", tc.code, tc.lm.Unix(), tc.cc)
		h := e.Handler(t, httpcache.Route{}, origin(tc.code, tc.lm, tc.cc))
		Do(h, "GET", u)
		w := Do(h, "GET", u)
		if Hit(w) != tc.reuse {
			t.Errorf("%d %s Last-Modified %v: reused = %v (%s)", tc.code, tc.cc, now.Sub(tc.lm), Hit(w), status(w))
		}
		if tc.reuse && !strings.Contains(status(w), "ttl=3600") && !strings.Contains(status(w), "ttl=3599") {
			t.Errorf("%d: heuristic lifetime not capped at an hour: %s", tc.code, status(w))
		}
	}
	// 10% of the time since Last-Modified, under the cap: 100 s ago gives 10 s.
	h := e.Handler(t, httpcache.Route{}, origin(200, now.Add(-100*time.Second), ""))
	Do(h, "GET", "http://example.com/heur/fraction")
	if w := Do(h, "GET", "http://example.com/heur/fraction"); !Hit(w) || !strings.Contains(status(w), "ttl=10") && !strings.Contains(status(w), "ttl=9") {
		t.Errorf("heuristic fraction: %s", status(w))
	}
	// Never for a request with Authorization.
	Do(h, "GET", "http://example.com/heur/auth", "Authorization", "Bearer a")
	if w := Do(h, "GET", "http://example.com/heur/auth", "Authorization", "Bearer a"); Hit(w) {
		t.Error("heuristic freshness applied to a response to a request with Authorization")
	}
}

// testRanges checks Range and If-Range requests answered from a stored complete response.
func testRanges(t *testing.T, env *Env) {
	lm := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	h := env.Handler(t, httpcache.Route{}, fixed("max-age=600", "Etag", `"r1"`, "Last-Modified", lm, "Content-Type", "text/plain"))
	const u = "http://example.com/ranges"
	Do(h, "GET", u) // stores "body 1"
	for _, tc := range []struct {
		rng, ifRange string
		code         int
		body, cr     string
	}{
		{"bytes=0-1", "", 206, "bo", "bytes 0-1/6"},
		{"bytes=4-", "", 206, " 1", "bytes 4-5/6"},
		{"bytes=-1", "", 206, "1", "bytes 5-5/6"},
		{"bytes=-100", "", 206, "body 1", "bytes 0-5/6"},
		{"bytes=2-100", "", 206, "dy 1", "bytes 2-5/6"},
		{"bytes=6-", "", 416, "", "bytes */6"},
		{"bytes=6-7, 10-", "", 416, "", "bytes */6"},
		{"bytes=0-1", `"r1"`, 206, "bo", "bytes 0-1/6"},
		{"bytes=0-1", lm, 206, "bo", "bytes 0-1/6"},
		{"bytes=0-1", `"other"`, 200, "body 1", ""},
		{"bytes=0-1", `W/"r1"`, 200, "body 1", ""},
		{"bytes=0-1", time.Now().UTC().Format(http.TimeFormat), 200, "body 1", ""},
		{"bytes=a-1", "", 200, "body 1", ""},
		{"bytes=3-1", "", 200, "body 1", ""},
		{"items=0-1", "", 200, "body 1", ""},
		{"bytes=0-3, 2-4", "", 200, "body 1", ""}, // overlapping: the full response
	} {
		hdr := []string{"Range", tc.rng}
		if tc.ifRange != "" {
			hdr = append(hdr, "If-Range", tc.ifRange)
		}
		w := Do(h, "GET", u, hdr...)
		if w.Code != tc.code || w.Body.String() != tc.body || w.Header().Get("Content-Range") != tc.cr || !Hit(w) {
			t.Errorf("Range %q If-Range %q: %d %q Content-Range %q (%s), want %d %q %q", tc.rng, tc.ifRange,
				w.Code, w.Body, w.Header().Get("Content-Range"), status(w), tc.code, tc.body, tc.cr)
		}
		if w.Code == 206 && w.Header().Get("Content-Length") != fmt.Sprint(len(tc.body)) {
			t.Errorf("Range %q: Content-Length %q", tc.rng, w.Header().Get("Content-Length"))
		}
	}
	// Several ranges: multipart/byteranges.
	w := Do(h, "GET", u, "Range", "bytes=0-1, -1")
	mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if w.Code != 206 || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("multipart: %d %q %v", w.Code, w.Header().Get("Content-Type"), err)
	}
	mr := multipart.NewReader(strings.NewReader(w.Body.String()), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Range")+" "+p.Header.Get("Content-Type")+" "+string(b))
	}
	if want := []string{"bytes 0-1/6 text/plain bo", "bytes 5-5/6 text/plain 1"}; strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Fatalf("multipart parts: %q", parts)
	}
	// HEAD ignores Range.
	if w := Do(h, "HEAD", u, "Range", "bytes=0-1"); w.Code != 200 || w.Header().Get("Content-Length") != "6" {
		t.Fatalf("HEAD with Range: %d %q", w.Code, w.Header().Get("Content-Length"))
	}
}

// testStorePOST checks RFC 9110 §9.3.3: with Options.StorePOST, a POST response whose
// Content-Location is the request's URL and that has explicit freshness answers later GETs.
func testStorePOST(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			if cl := r.Header.Get("X-Location"); cl != "" {
				w.Header().Set("Content-Location", cl)
			}
			if cc := r.Header.Get("X-Cache-Control"); cc != "" {
				w.Header().Set("Cache-Control", cc)
			}
			if r.Header.Get("X-Cookie") != "" {
				w.Header().Set("Set-Cookie", "a=b")
			}
			fmt.Fprintf(w, "post %d", n)
			return
		}
		fmt.Fprintf(w, "get %d", n)
	}}
	const u = "http://example.com/post?q=1"
	for _, tc := range []struct {
		name   string
		on     bool
		hdr    []string
		stored bool
	}{
		{"absolute", true, []string{"X-Location", u, "X-Cache-Control", "max-age=60"}, true},
		{"relative", true, []string{"X-Location", "/post?q=1", "X-Cache-Control", "max-age=60"}, true},
		{"off", false, []string{"X-Location", u, "X-Cache-Control", "max-age=60"}, false},
		{"other-location", true, []string{"X-Location", "/post?q=2", "X-Cache-Control", "max-age=60"}, false},
		{"no-query-location", true, []string{"X-Location", "/post", "X-Cache-Control", "max-age=60"}, false},
		{"no-location", true, []string{"X-Cache-Control", "max-age=60"}, false},
		{"no-freshness", true, []string{"X-Location", u}, false},
		{"no-store", true, []string{"X-Location", u, "X-Cache-Control", "max-age=60, no-store"}, false},
		{"set-cookie", true, []string{"X-Location", u, "X-Cache-Control", "max-age=60", "X-Cookie", "1"}, false},
		{"authorization", true, []string{"X-Location", u, "X-Cache-Control", "max-age=60", "Authorization", "Bearer a"}, false},
	} {
		e := withOptions(t, env, httpcache.Options{StorePOST: tc.on})
		h := e.Handler(t, httpcache.Route{}, origin)
		r := httptest.NewRequest("POST", u, strings.NewReader("payload"))
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			r.Header.Set(tc.hdr[i], tc.hdr[i+1])
		}
		p := httptest.NewRecorder()
		h.ServeHTTP(p, r)
		if !strings.HasPrefix(p.Body.String(), "post ") {
			t.Fatalf("%s: POST answered %q", tc.name, p.Body)
		}
		w := Do(h, "GET", u)
		if got := strings.HasPrefix(w.Body.String(), "post ") && Hit(w); got != tc.stored {
			t.Errorf("%s: GET served the POST response = %v (%q, %s; POST %s)", tc.name, got, w.Body, status(w), status(p))
		}
	}
}

// testNegotiateLanguage checks Options.NegotiateLanguage: a request that strictly prefers the
// language of a stored variant (Vary: Accept-Language alone) gets it; anything else does not.
func testNegotiateLanguage(t *testing.T, env *Env) {
	origin := &Counter{Fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", r.URL.Query().Get("vary"))
		w.Header().Set("Content-Language", "de")
		fmt.Fprintf(w, "de %d", n)
	}}
	for _, on := range []bool{false, true} {
		e := withOptions(t, env, httpcache.Options{NegotiateLanguage: on})
		h := e.Handler(t, httpcache.Route{}, origin)
		u := "http://example.com/lang?vary=Accept-Language"
		Do(h, "GET", u, "Accept-Language", "en, de")
		if w := Do(h, "GET", u, "Accept-Language", "fr;q=0.5, de;q=1.0"); Hit(w) != on {
			t.Errorf("NegotiateLanguage %v: strict preference for de reused = %v (%s)", on, Hit(w), status(w))
		}
		for _, al := range []string{"fr, de", "fr", "de;q=0.5, *", "de-CH"} {
			if w := Do(h, "GET", u, "Accept-Language", al); Hit(w) {
				t.Errorf("NegotiateLanguage %v: %q served the de variant", on, al)
			}
		}
		// Not when the response varies on more than Accept-Language.
		u2 := "http://example.com/lang?vary=Accept-Language,Accept"
		Do(h, "GET", u2, "Accept-Language", "en, de")
		if w := Do(h, "GET", u2, "Accept-Language", "de"); Hit(w) {
			t.Errorf("NegotiateLanguage %v: variant of a response with Vary: Accept-Language, Accept reused", on)
		}
		// An unsafe request removes the language entry with the variants.
		Do(h, "GET", u, "Accept-Language", "de")
		Do(h, "POST", u)
		if w := Do(h, "GET", u, "Accept-Language", "fr;q=0.5, de"); Hit(w) {
			t.Errorf("NegotiateLanguage %v: language entry survived an unsafe request", on)
		}
	}
}
