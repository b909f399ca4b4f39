package httpcache

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// forwardUnsafe passes a request with an unsafe method to the origin and, when the response is
// not an error, invalidates what is stored for its URL and for same-origin Location and
// Content-Location (RFC 9111 §4.4). The invalidation happens before the response head leaves,
// so a client that sees the response cannot then read the old entry.
//
// With Options.StorePOST, a response to a POST that says it is the representation of the
// request's own URL (Content-Location equal to it) and how long it is fresh is then stored for
// later GET and HEAD requests of that URL (RFC 9110 §9.3.3).
func (c *Cache) forwardUnsafe(w http.ResponseWriter, r *http.Request, o Origin) {
	var pending *entry
	var x *exchange
	reqTime := time.Now().UnixNano()
	cw := newCapture(w, c.opts.MaxBodySize, c.opts.SurrogateKeyHeader, func(cw *capture) {
		cw.mode = modePass
		st := cacheStatus{fwd: "method", fwdStatus: cw.status}
		if cw.status >= 200 && cw.status < 400 {
			c.invalidateAfterUnsafe(context.WithoutCancel(r.Context()), r, cw.h)
		}
		if x = c.postExchange(r, cw); x != nil {
			if e, _ := c.prepare(x, cw, reqTime); e != nil {
				pending, cw.mode = e, modeTee
				cw.onHead = func(cw *capture, stored bool) {
					st.stored = stored
					c.setStatus(cw.h, st)
				}
				return
			}
		}
		c.setStatus(cw.h, st)
	})
	o.Serve(cw, r)
	cw.finish()
	stored := false
	if pending != nil && cw.held && !cw.dropped && !cw.hijacked && cw.complete() {
		pending.setBody(cw.buf)
		stored = c.store(context.WithoutCancel(r.Context()), x.skey, pending, c.surrogateKeys(cw.h))
	}
	cw.release(stored)
}

// postExchange returns the exchange under which the response to the POST r may be stored for
// GET requests of its URL, or nil: StorePOST is off, the response has no explicit freshness, or
// its Content-Location is not r's own URL.
func (c *Cache) postExchange(r *http.Request, cw *capture) *exchange {
	if !c.opts.StorePOST || r.Method != http.MethodPost || (cw.status != http.StatusOK && cw.status != http.StatusNonAuthoritativeInfo) {
		return nil
	}
	cl := cw.h["Content-Location"]
	if len(cl) != 1 {
		return nil
	}
	if cc, field := responsePolicy(cw.h, c.opts.TargetedCacheControl); !hasExplicitFreshness(cw.h, &cc, field) {
		return nil
	}
	canon, skey, ok := c.requestKey(r)
	if !ok {
		return nil
	}
	ref, err := url.Parse(cl[0])
	if err != nil {
		return nil
	}
	scheme := requestScheme(r)
	base := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery, ForceQuery: r.URL.ForceQuery}
	if lcanon, _, ok := c.urlKey(base.ResolveReference(ref)); !ok || lcanon != canon {
		return nil
	}
	ri := c.requestInfo(r)
	ri.get = true // stored as the GET response of the URL
	return &exchange{c: c, r: r, rt: &Route{}, ri: ri, canon: canon, skey: skey}
}

func (c *Cache) invalidateAfterUnsafe(ctx context.Context, r *http.Request, h http.Header) {
	_, skey, ok := c.requestKey(r)
	if !ok {
		return
	}
	if err := c.invalidateURL(ctx, skey); err != nil {
		c.opts.Logger.Warn("httpcache: invalidation after unsafe method failed", "error", err)
	}
	scheme := requestScheme(r)
	base := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	for _, name := range []string{"Location", "Content-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		u := base.ResolveReference(ref)
		if u.Scheme != base.Scheme || !sameHost(scheme, u.Host, r.Host) {
			continue
		}
		if _, k, ok := c.urlKey(u); ok && k != skey {
			if err := c.invalidateURL(ctx, k); err != nil {
				c.opts.Logger.Warn("httpcache: invalidation after unsafe method failed", "error", err)
			}
		}
	}
}

func sameHost(scheme, a, b string) bool {
	na, ok1 := normalizeHost(scheme, a)
	nb, ok2 := normalizeHost(scheme, b)
	return ok1 && ok2 && na == nb
}
