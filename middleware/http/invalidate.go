package httpcache

import (
	"context"
	"net/http"
	"net/url"
)

// forwardUnsafe passes a request with an unsafe method to the origin and, when the response is
// not an error, invalidates what is stored for its URL and for same-origin Location and
// Content-Location (RFC 9111 §4.4). The invalidation happens before the response head leaves,
// so a client that sees the response cannot then read the old entry.
func (c *Cache) forwardUnsafe(w http.ResponseWriter, r *http.Request, o Origin) {
	cw := newCapture(w, 0, c.opts.SurrogateKeyHeader, func(cw *capture) {
		cw.mode = modePass
		c.setStatus(cw.h, cacheStatus{fwd: "method", fwdStatus: cw.status})
		if cw.status >= 200 && cw.status < 400 {
			c.invalidateAfterUnsafe(context.WithoutCancel(r.Context()), r, cw.h)
		}
	})
	o.Serve(cw, r)
	cw.finish()
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
