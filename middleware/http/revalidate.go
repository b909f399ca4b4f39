package httpcache

import (
	"context"
	"net/http"
	"time"
)

// conditional returns a copy of r that asks the origin to validate e: the client's own
// conditions and range are replaced by e's validators (when e has none, it is a plain request).
func conditional(ctx context.Context, r *http.Request, e *entry) *http.Request {
	rr := r.Clone(ctx)
	for _, k := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		delete(rr.Header, k)
	}
	if e.etag != "" {
		rr.Header.Set("If-None-Match", e.etag)
	}
	if e.lastModified != "" {
		rr.Header.Set("If-Modified-Since", e.lastModified)
	}
	return rr
}

// revalidate asks the origin about a stored entry that cannot be served as is. On 304 the entry
// is freshened and served; when the origin fails (a 5xx: a proxy answers 502 or 504 when it
// gets no response) the stored entry is served within its error window (errorWindow);
// otherwise the origin's response goes to the client (and is stored when it may be).
func (x *exchange) revalidate(e *entry) {
	c := x.c
	sie, sieDirective := x.errorWindow(e)
	// RFC 9211: "stale" when the entry was stale (or must be validated), "request" when a fresh
	// entry was passed over because of the request's own directives.
	fwd := "stale"
	if !e.cc.Has(ccNoCache) && e.lifetime > e.age(time.Now().UnixNano()) {
		fwd = "request"
	}
	// Concurrent requests for the same stale entry share one revalidation.
	var fl *flight
	if x.ri.get && x.coalescable() {
		f, leader := c.flights.join(x.r.Context(), x.skey)
		if !leader {
			if x.follow(f, fwd) {
				return
			}
		} else {
			fl = f
		}
	}
	// Whatever happens in the handler (a panic, a runtime.Goexit), the followers are released.
	defer c.flights.release(x.skey, fl, nil)
	var pending *entry
	var outcome string // "validated", "error" or "" (a new response)
	reqTime := time.Now().UnixNano()
	rr := conditional(x.r.Context(), x.r, e)
	cw := newCapture(x.w, c.opts.MaxBodySize, c.opts.SurrogateKeyHeader, func(cw *capture) {
		switch {
		case cw.status == http.StatusNotModified:
			cw.mode, outcome = modeDiscard, "validated"
			return
		case cw.status >= 500 && sie >= 0 && e.age(time.Now().UnixNano())-e.lifetime <= sie:
			cw.mode, outcome = modeDiscard, "error"
			c.flights.release(x.skey, fl, nil)
			return
		}
		st := cacheStatus{fwd: fwd, fwdStatus: cw.status}
		ne, reason := c.prepare(x, cw, reqTime)
		if ne != nil {
			pending, cw.mode = ne, modeTee
			cw.onHead = func(cw *capture, stored bool) {
				st.stored = stored
				if cw.tooLarge {
					st.detail = "too-large"
				}
				c.setStatus(cw.h, st)
			}
			return
		}
		cw.mode, st.detail = modePass, reason
		c.flights.release(x.skey, fl, nil)
		c.setStatus(cw.h, st)
	})
	cw.onDrop = func() { c.flights.release(x.skey, fl, nil) }
	x.o.Serve(cw, rr)
	cw.finish()
	ctx := context.WithoutCancel(x.r.Context())
	var shared *entry // what followers get
	defer func() { c.flights.release(x.skey, fl, shared) }()
	switch outcome {
	case "validated":
		ne := c.freshen(e, cw.h, reqTime, time.Now().UnixNano())
		st := cacheStatus{fwd: fwd, fwdStatus: http.StatusNotModified}
		if ne != nil && !c.freshenedStorable(x.ri, ne) {
			// The 304 answered a request with unkeyed headers and may reflect them: it goes to
			// this client only.
			st.detail = "unkeyed-header"
		} else if ne != nil && c.store(ctx, x.skey, ne, c.surrogateKeys(cw.h)) {
			st.stored = true
			shared = ne
		} else if ne == nil {
			ne = e
		}
		now := time.Now().UnixNano()
		st.hasTTL, st.ttl = true, ne.ttlSeconds(now)
		c.serveEntry(x.w, x.r, ne, now, st)
	case "error":
		now := time.Now().UnixNano()
		// Not a hit (RFC 9211 §2.1: the request was forwarded); fwd-status says what failed.
		detail := "stale-if-error"
		if e.age(now)-e.lifetime > sieDirective {
			detail = "origin-error" // only Options.MaxStaleOnError allowed it
		}
		c.serveEntry(x.w, x.r, e, now, cacheStatus{fwd: fwd, fwdStatus: cw.status, hasTTL: true,
			ttl: e.ttlSeconds(now), detail: detail})
	default:
		if pending != nil && cw.held && !cw.dropped && !cw.hijacked && cw.complete() {
			pending.setBody(cw.buf)
			if c.store(ctx, x.skey, pending, c.surrogateKeys(cw.h)) {
				shared = pending
			}
			cw.release(shared != nil)
		} else if cw.release(false); x.ri.get && cw.status < 500 {
			// The origin answered with something else that is not stored: drop the old entry.
			_ = c.invalidateURL(ctx, x.skey)
		}
	}
}

// errorWindow is how long past its freshness e may be served when the origin fails (RFC 9111
// §4.2.4, RFC 5861 stale-if-error): the longest of the response's and the request's
// stale-if-error (directive) and Options.MaxStaleOnError. It is negative when e may not be
// served at all on error: must-revalidate, proxy-revalidate, s-maxage or no-cache forbid
// serving it unvalidated.
func (x *exchange) errorWindow(e *entry) (window, directive int64) {
	if e.noStale {
		return -1, -1
	}
	directive = e.sieWindow()
	if x.ri.cc.Has(ccStaleIfError) {
		directive = max(directive, x.ri.cc.SIE*int64(time.Second))
	}
	return max(directive, int64(x.c.opts.MaxStaleOnError)), directive
}

// freshen applies the headers of a 304 to e (RFC 9111 §4.3.4) and returns the updated entry,
// or nil when the update makes it unstorable.
func (c *Cache) freshen(e *entry, h http.Header, reqTime, respTime int64) *entry {
	if _, ok := h["Set-Cookie"]; ok {
		return nil
	}
	upd := c.storedHeader(h)
	nh := make(http.Header, len(e.header)+len(upd))
	for k, vs := range e.header {
		nh[k] = vs
	}
	for k, vs := range upd {
		if k == "Content-Length" || k == "Content-Encoding" || k == "Content-Type" || k == "Content-Range" {
			continue
		}
		nh[k] = vs
	}
	if _, ok := h["Age"]; !ok {
		delete(nh, "Age")
	}
	if _, ok := h["Date"]; !ok {
		nh["Date"] = []string{time.Unix(0, respTime).UTC().Format(http.TimeFormat)}
	}
	cc, _ := responsePolicy(nh, c.opts.TargetedCacheControl)
	if cc.Has(ccNoStore|ccPrivate) && !cc.Has(ccMustUnderstand) {
		return nil
	}
	ne := *e
	ne.header, ne.reqTime, ne.respTime = nh, reqTime, respTime
	_, ne.ccField = responsePolicy(nh, c.opts.TargetedCacheControl)
	ne.derive()
	return &ne
}

// freshenedStorable reports whether an entry freshened by the 304 to a request described by ri
// may be stored: like a full response, not when the request carried unkeyed headers that do not
// select the stored variant (ne.varyNames, what its key was built from).
func (c *Cache) freshenedStorable(ri *reqInfo, ne *entry) bool {
	if _, star := varyNames(ne.header); star {
		return false
	}
	return unkeyedKeyed(ri, ne.varyNames)
}

// testHookBackground, when set by a test, runs as a background revalidation is about to start.
var testHookBackground func(*Cache)

// backgroundRevalidate starts one revalidation of e (per stored key) that outlives the request,
// for stale-while-revalidate.
func (c *Cache) backgroundRevalidate(x *exchange, e *entry) {
	if testHookBackground != nil {
		testHookBackground(c)
	}
	key := x.skey
	if len(e.varyNames) > 0 {
		key = variantKey(x.skey, e.varyVals)
	}
	// One revalidation per stored key at a time, on a goroutine the tiered cache's Close waits
	// for: strata's single-flight and background tracker.
	if c.closed.Load() {
		return
	}
	call, leader := c.revals.Join(x.r.Context(), key)
	if !leader {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.r.Context()), c.opts.RevalidateTimeout)
	rr := conditional(ctx, x.r, e)
	rr.Method = http.MethodGet
	serve := x.o.detached()
	started := c.tc.Background(func() {
		defer func() {
			cancel()
			c.revals.Finish(key, call, struct{}{}, nil)
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				c.opts.Logger.Warn("httpcache: handler panicked during background revalidation")
			}
		}()
		bx := &exchange{c: c, w: &discardWriter{}, r: rr, rt: x.rt, o: x.o, ri: c.requestInfo(rr), canon: x.canon, skey: x.skey}
		var pending *entry
		validated := false
		reqTime := time.Now().UnixNano()
		cw := newCapture(bx.w, c.opts.MaxBodySize, c.opts.SurrogateKeyHeader, func(cw *capture) {
			cw.mode = modeDiscard
			switch {
			case cw.status == http.StatusNotModified:
				validated = true
			case cw.status >= 500:
			default:
				if ne, _ := c.prepare(bx, cw, reqTime); ne != nil {
					pending, cw.mode = ne, modeTee
				}
			}
		})
		serve(cw, rr)
		cw.finish()
		switch {
		case validated:
			if ne := c.freshen(e, cw.h, reqTime, time.Now().UnixNano()); ne != nil && c.freshenedStorable(bx.ri, ne) {
				c.store(ctx, x.skey, ne, c.surrogateKeys(cw.h))
			}
		case pending != nil && cw.held && !cw.dropped && cw.complete():
			pending.setBody(cw.buf)
			c.store(ctx, x.skey, pending, c.surrogateKeys(cw.h))
		}
		cw.held = false // nobody to send it to
	})
	if !started {
		cancel()
		c.revals.Finish(key, call, struct{}{}, nil)
	}
}
