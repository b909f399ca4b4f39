package httpcache

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	sf "github.com/stratacache/strata/internal/flight"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

// Cache is the response-caching engine. One Cache serves any number of routes, each with its own
// [Route] policy, through [Cache.Middleware], [Cache.RouteMiddleware] or the Echo adapter. It is
// safe for concurrent use. Release it with [Cache.Close].
type Cache struct {
	opts    Options
	tc      *tiered.Cache
	owned   bool
	ownedL1 *ottertier.Backend

	flights flights
	revals  sf.Group[string, struct{}] // background revalidations, one per stored key
	closed  atomic.Bool
}

// New builds a Cache. It returns an error wrapping [ErrInvalidOptions] for inconsistent options,
// Entries encode themselves (encoding.BinaryMarshaler), so any tiered cache holds them.
func New(opts Options) (*Cache, error) {
	if err := opts.resolve(); err != nil {
		return nil, err
	}
	c := &Cache{opts: opts, tc: opts.Cache}
	if c.tc == nil {
		l1, err := ottertier.New(ottertier.Options{MaxBytes: DefaultL1MaxBytes})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		}
		tc, err := tiered.New(tiered.Options{Tiers: []tiered.Tier{{Backend: l1}}})
		if err != nil {
			l1.Close()
			return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		}
		c.tc, c.owned, c.ownedL1 = tc, true, l1
	}
	return c, nil
}

// Close stops new background revalidations and, when New built the tiered cache, closes it, which
// waits for those already running. A tiered cache passed in Options stays the caller's: its Close
// waits for them.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.owned {
		err := c.tc.Close()
		c.ownedL1.Close()
		return err
	}
	return nil
}

// Tiered returns the tiered cache that holds the entries.
func (c *Cache) Tiered() *tiered.Cache { return c.tc }

// Middleware caches the responses of next with the zero [Route] policy: only responses with
// explicit freshness are reused. Its signature fits routers built on net/http (chi, gorilla/mux,
// http.ServeMux wrappers).
func (c *Cache) Middleware(next http.Handler) http.Handler {
	return c.handler(next, Route{})
}

// RouteMiddleware returns a middleware applying rt to the routes it wraps. It returns an error
// wrapping [ErrInvalidOptions] when rt.Strategy is invalid.
func (c *Cache) RouteMiddleware(rt Route) (func(http.Handler) http.Handler, error) {
	if err := rt.validate(); err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler { return c.handler(next, rt) }, nil
}

func (c *Cache) handler(next http.Handler, rt Route) http.Handler {
	o := Origin{Serve: next.ServeHTTP}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Serve(w, r, &rt, o)
	})
}

// Origin is how the engine reaches the application, for adapters: Serve handles a request during
// the client's request; Detached, when set, is used instead for background revalidations, which
// run after the client's request has ended (an adapter whose per-request state is recycled
// supplies a Detached that does not depend on it).
type Origin struct {
	Serve    func(http.ResponseWriter, *http.Request)
	Detached func(http.ResponseWriter, *http.Request)
}

func (o Origin) detached() func(http.ResponseWriter, *http.Request) {
	if o.Detached != nil {
		return o.Detached
	}
	return o.Serve
}

// Serve answers r from the cache or from o, storing what may be stored. It is the engine's single
// entry point, used by [Cache.Middleware] and by adapters such as echocache. rt must not be nil.
func (c *Cache) Serve(w http.ResponseWriter, r *http.Request, rt *Route, o Origin) {
	if c.closed.Load() {
		o.Serve(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if isSafeMethod(r.Method) {
			c.passThrough(w, r, o, cacheStatus{fwd: "method"})
			return
		}
		c.forwardUnsafe(w, r, o)
		return
	}
	if isUpgrade(r) {
		c.setStatus(w.Header(), cacheStatus{fwd: "bypass", detail: "upgrade"})
		o.Serve(w, r)
		return
	}
	if hasBody(r) {
		c.passThrough(w, r, o, cacheStatus{fwd: "bypass", detail: "request-body"})
		return
	}
	canon, skey, ok := c.requestKey(r)
	if !ok {
		c.passThrough(w, r, o, cacheStatus{fwd: "bypass", detail: "host"})
		return
	}
	var ri reqInfo
	c.fillRequestInfo(&ri, r)
	now := time.Now().UnixNano()
	e, miss := c.lookup(r.Context(), canon, skey, r.Header)
	// The common hit: a fresh entry and a request without conditions of its own.
	if e != nil && ri.cc.Flags == 0 && !ri.auth && !e.cc.Has(ccNoCache) && e.lifetime > e.age(now) &&
		!hasPreconditions(r.Header) {
		c.serveEntry(w, r, e, now, cacheStatus{hit: true})
		return
	}
	x := &exchange{c: c, w: w, r: r, rt: rt, o: o, ri: &reqInfo{}, canon: canon, skey: skey}
	*x.ri = ri
	x.run(e, miss, now)
}

// passThrough hands a request the cache does not handle to the origin; the response streams
// through untouched but for Cache-Status and the surrogate-key header, which is removed.
func (c *Cache) passThrough(w http.ResponseWriter, r *http.Request, o Origin, st cacheStatus) {
	cw := newCapture(w, 0, c.opts.SurrogateKeyHeader, func(cw *capture) {
		cw.mode = modePass
		st.fwdStatus = cw.status
		c.setStatus(cw.h, st)
	})
	o.Serve(cw, r)
	cw.finish()
}

func (c *Cache) requestInfo(r *http.Request) *reqInfo {
	ri := &reqInfo{}
	c.fillRequestInfo(ri, r)
	return ri
}

func (c *Cache) fillRequestInfo(ri *reqInfo, r *http.Request) {
	ri.get = r.Method == http.MethodGet
	if _, ok := r.Header["Cache-Control"]; ok {
		ri.cc = parseCacheControl(r.Header)
	} else if p, ok := r.Header["Pragma"]; ok {
		for _, v := range p {
			if containsToken(v, "no-cache") {
				ri.cc.Flags |= ccNoCache
			}
		}
	}
	_, ri.auth = r.Header["Authorization"]
	if len(r.Header) < len(c.opts.UnkeyedHeaders) {
		for h := range r.Header {
			if slices.Contains(c.opts.UnkeyedHeaders, h) {
				ri.unkeyed = true
				ri.unkeyedH = append(ri.unkeyedH, h)
			}
		}
		return
	}
	for _, h := range c.opts.UnkeyedHeaders {
		if _, ok := r.Header[h]; ok {
			ri.unkeyed = true
			ri.unkeyedH = append(ri.unkeyedH, h)
		}
	}
}

// exchange is one GET or HEAD request going through the engine.
type exchange struct {
	c     *Cache
	w     http.ResponseWriter
	r     *http.Request
	rt    *Route
	o     Origin
	ri    *reqInfo
	canon string
	skey  string
}

// run goes on from the lookup (e, or the kind of miss) when the fast hit did not apply.
func (x *exchange) run(e *entry, miss string, now int64) {
	r := x.r
	if e != nil && x.ri.auth && !e.authOK {
		// A stored response the request's Authorization keeps it from using (RFC 9211: the
		// request's semantics did not allow its use).
		e, miss = nil, "request"
	}
	if e != nil && hasPreconditions(r.Header) {
		e, miss = nil, "request"
	}
	if e != nil {
		if x.useStored(e, now) {
			return
		}
		if x.ri.cc.Has(ccOnlyIfCached) {
			x.gatewayTimeout()
			return
		}
		x.revalidate(e)
		return
	}
	if x.ri.cc.Has(ccOnlyIfCached) {
		x.gatewayTimeout()
		return
	}
	x.fetch(miss)
}

// useStored serves e when the request and e's freshness allow it, and reports whether it did.
func (x *exchange) useStored(e *entry, now int64) bool {
	rcc := &x.ri.cc
	if e.cc.Has(ccNoCache) || rcc.Has(ccNoCache) {
		return false
	}
	age := e.age(now)
	left := e.lifetime - age
	if rcc.Has(ccMaxAge) && age > rcc.MaxAge*int64(time.Second) {
		return false
	}
	if rcc.Has(ccMinFresh) && left < rcc.MinFresh*int64(time.Second) {
		return false
	}
	st := cacheStatus{hit: true, hasTTL: true, ttl: e.ttlSeconds(now)}
	if left > 0 {
		st = cacheStatus{hit: true}
		x.c.serveEntry(x.w, x.r, e, now, st)
		return true
	}
	if e.noStale {
		return false
	}
	stale := -left
	if rcc.Has(ccMaxStaleAny) || (rcc.Has(ccMaxStale) && stale <= rcc.MaxStale*int64(time.Second)) {
		st.detail = "max-stale"
		x.c.serveEntry(x.w, x.r, e, now, st)
		return true
	}
	if stale < e.swrWindow() && !x.ri.auth {
		st.detail = "stale-while-revalidate"
		x.c.backgroundRevalidate(x, e)
		x.c.serveEntry(x.w, x.r, e, now, st)
		return true
	}
	return false
}

// ttlSeconds is the remaining freshness in whole seconds for Cache-Status, consistent with the Age
// header sent alongside (lifetime − Age); negative for a stale entry.
func (e *entry) ttlSeconds(now int64) int64 {
	return e.lifetime/int64(time.Second) - max(0, e.age(now))/int64(time.Second)
}

// gatewayTimeout answers an only-if-cached request the cache cannot satisfy (RFC 9111 §5.2.1.7).
func (x *exchange) gatewayTimeout() {
	h := x.w.Header()
	x.c.setStatus(h, cacheStatus{detail: "only-if-cached"})
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	x.w.WriteHeader(http.StatusGatewayTimeout)
	_, _ = x.w.Write([]byte("504 gateway timeout: not in cache\n"))
}

// lookup returns the stored response for a request with header h, or the kind of miss.
func (c *Cache) lookup(ctx context.Context, canon, skey string, h http.Header) (*entry, string) {
	base, found, err := tiered.Get[*entry](ctx, c.tc, skey)
	if err != nil || !found || base == nil || base.key != canon {
		return nil, "uri-miss"
	}
	if !base.marker {
		return base, ""
	}
	vals := varyValues(h, base.varyNames)
	vkey := variantKey(skey, vals)
	// Only a variant the marker lists is served: one it does not (left out by a concurrent store
	// of the marker, and so out of reach of the purges and invalidations that walk the list) is
	// an orphan, a miss until it is stored again.
	if !slices.Contains(base.variants, vkey) {
		return c.lookupLanguage(ctx, canon, skey, base, h)
	}
	v, found, err := tiered.Get[*entry](ctx, c.tc, vkey)
	if err != nil || !found || v == nil || v.marker || v.key != canon || v.varyVals != vals {
		return c.lookupLanguage(ctx, canon, skey, base, h)
	}
	return v, ""
}

// lookupLanguage finds, with Options.NegotiateLanguage, the stored variant of a URL varying on
// Accept-Language alone whose Content-Language is the language the request strictly prefers.
func (c *Cache) lookupLanguage(ctx context.Context, canon, skey string, m *entry, h http.Header) (*entry, string) {
	if !c.opts.NegotiateLanguage || len(m.varyNames) != 1 || m.varyNames[0] != "Accept-Language" {
		return nil, "vary-miss"
	}
	lang := preferredLanguage(h["Accept-Language"])
	if lang == "" {
		return nil, "vary-miss"
	}
	lkey := languageKey(skey, lang)
	if !slices.Contains(m.variants, lkey) {
		return nil, "vary-miss"
	}
	v, found, err := tiered.Get[*entry](ctx, c.tc, lkey)
	if err != nil || !found || v == nil || v.marker || v.key != canon || contentLanguage(v.header) != lang {
		return nil, "vary-miss"
	}
	return v, ""
}

// matches reports whether e, produced for another request, may answer a request with header h.
func (e *entry) matches(canon string, h http.Header) bool {
	if e.key != canon {
		return false
	}
	if len(e.varyNames) == 0 {
		return true
	}
	return varyValues(h, e.varyNames) == e.varyVals
}

func hasPreconditions(h http.Header) bool {
	_, a := h["If-Match"]
	_, b := h["If-Unmodified-Since"]
	return a || b
}
