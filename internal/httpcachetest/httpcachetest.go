// Package httpcachetest holds the behaviour and security suites of the HTTP response cache, run
// by the tests of every adapter (middleware/http and middleware/echo) against an in-process cache
// and against an in-process cache over a real Redis.
package httpcachetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// Adapter puts the cache c with route policy rt in front of h.
type Adapter func(t testing.TB, c *httpcache.Cache, rt httpcache.Route, h http.Handler) http.Handler

// Env is one test's cache: its tiered store (and Redis client when it has one) and the engine.
type Env struct {
	Name      string
	Tiered    *tiered.Cache
	Redis     *redis.Client // nil for the in-process store
	Namespace string
	L1        *ottertier.Backend
	Cache     *httpcache.Cache
	adapter   Adapter
}

var seq atomic.Int64

// Stores runs f once with an in-process store and once with an in-process store over Redis.
func Stores(t *testing.T, adapter Adapter, opts httpcache.Options, f func(t *testing.T, env *Env)) {
	t.Helper()
	for _, name := range []string{"l1", "l1+redis"} {
		t.Run(name, func(t *testing.T) {
			env := NewEnv(t, name, adapter, opts)
			f(t, env)
		})
	}
}

// NewEnv builds one store ("l1" or "l1+redis") and an engine on it, closed when t ends.
func NewEnv(t testing.TB, name string, adapter Adapter, opts httpcache.Options) *Env {
	t.Helper()
	env := &Env{Name: name, adapter: adapter, Namespace: fmt.Sprintf("hc%d:", seq.Add(1))}
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l1.Close)
	env.L1 = l1
	tiers := []tiered.Tier{{Backend: l1}}
	if name == "l1+redis" {
		env.Redis = redistest.Shared(t).Client(t)
		l2, err := redistier.New(env.Redis, redistier.Options{})
		if err != nil {
			t.Fatal(err)
		}
		tiers = append(tiers, tiered.Tier{Backend: l2, Timeout: 2 * time.Second})
	}
	tc, err := tiered.New(tiered.Options{Tiers: tiers, Namespace: env.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	opts.Cache = tc
	c, err := httpcache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	env.Tiered, env.Cache = tc, c
	return env
}

// Handler wraps h with the env's adapter and route policy.
func (env *Env) Handler(t testing.TB, rt httpcache.Route, h http.Handler) http.Handler {
	return env.adapter(t, env.Cache, rt, h)
}

// ClearL1 empties the in-process tier, so that the next read comes from Redis.
func (env *Env) ClearL1(t testing.TB) {
	t.Helper()
	_ = env.L1.Clear(context.Background())
}

// NetHTTP is the Adapter of the net/http middleware.
func NetHTTP(t testing.TB, c *httpcache.Cache, rt httpcache.Route, h http.Handler) http.Handler {
	t.Helper()
	mw, err := c.RouteMiddleware(rt)
	if err != nil {
		t.Fatal(err)
	}
	return mw(h)
}

// Do sends one request through h and returns the recorded response.
func Do(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Hit reports whether the response's Cache-Status says it was served from the cache: the last
// member, which is this cache's (RFC 9211 §2: the cache nearest the user comes last).
func Hit(w *httptest.ResponseRecorder) bool {
	v := w.Header().Get("Cache-Status")
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.Contains(v, "; hit")
}

// Counter is a handler that counts its calls and answers with fn.
type Counter struct {
	N  atomic.Int64
	Fn func(n int64, w http.ResponseWriter, r *http.Request)
}

func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.Fn(c.N.Add(1), w, r)
}

// Body reads a response body.
func Body(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Ctx returns a context for direct cache calls.
func Ctx(t testing.TB) context.Context { return t.Context() }
