package httpcache

import (
	"context"
	"net/http"
	"time"
)

// coalescable reports whether a miss may share an origin request with concurrent misses.
func (x *exchange) coalescable() bool {
	if x.rt.NoCoalesce || x.ri.auth || x.ri.unkeyed || x.ri.cc.Has(ccNoCache|ccNoStore) {
		return false
	}
	h := x.r.Header
	for _, k := range []string{"Range", "If-None-Match", "If-Modified-Since", "If-Range"} {
		if _, ok := h[k]; ok {
			return false
		}
	}
	return true
}

// fetch answers a miss: it waits for a concurrent identical miss when there is one, and
// otherwise asks the origin.
func (x *exchange) fetch(miss string) {
	c := x.c
	var fl *flight
	if x.coalescable() {
		leader := false
		if x.ri.get {
			fl, leader = c.flights.join(x.r.Context(), x.skey)
		} else {
			fl = c.flights.peek(x.skey) // a HEAD response is never stored: HEAD only follows
		}
		if fl != nil && !leader {
			if x.follow(fl, miss) {
				return
			}
			fl = nil
		}
		if leader {
			// The fleet's lease on the URL (tiered.Options.Leases): one instance asks the
			// origin, the others serve what it stored.
			release, stored := c.tc.Claim(x.r.Context(), x.skey, x.rt.Strategy)
			defer release()
			if stored && x.useClaimed(fl) {
				return
			}
		}
	}
	x.forward(miss, fl)
}

// useClaimed serves the entry another instance stored while this one waited for its lease, and
// hands it to this instance's followers. It reports whether the request has been answered.
func (x *exchange) useClaimed(fl *flight) bool {
	e, _ := x.c.lookup(x.r.Context(), x.canon, x.skey, x.r.Header)
	if e == nil || !x.useStored(e, time.Now().UnixNano()) {
		return false
	}
	x.c.flights.release(x.skey, fl, e)
	return true
}

// follow waits for the flight another request leads. It reports whether the request has been
// dealt with: answered from the leader's entry, or abandoned by its own client. Otherwise the
// request goes to the origin itself.
func (x *exchange) follow(fl *flight, fwd string) bool {
	select {
	case <-fl.Done():
	case <-x.r.Context().Done():
		return true
	}
	e, _ := fl.Result()
	if e == nil || !e.matches(x.canon, x.r.Header) {
		return false
	}
	now := time.Now().UnixNano()
	x.c.serveEntry(x.w, x.r, e, now, cacheStatus{fwd: fwd, fwdStatus: e.status, collapsed: true, hasTTL: true, ttl: e.ttlSeconds(now)})
	return true
}

// forward calls the origin for a miss and stores the response when it may. fl, when not nil, is
// the flight this request leads.
func (x *exchange) forward(miss string, fl *flight) {
	c := x.c
	var pending *entry
	reqTime := time.Now().UnixNano()
	cw := newCapture(x.w, c.opts.MaxBodySize, c.opts.SurrogateKeyHeader, func(cw *capture) {
		st := cacheStatus{fwd: miss, fwdStatus: cw.status}
		e, reason := c.prepare(x, cw, reqTime)
		if e != nil {
			pending = e
			cw.mode = modeTee
			cw.onHead = func(cw *capture, stored bool) {
				st.stored = stored
				if cw.tooLarge {
					st.detail = "too-large"
				}
				c.setStatus(cw.h, st)
			}
			return
		}
		cw.mode = modePass
		st.detail = reason
		c.flights.release(x.skey, fl, nil)
		c.setStatus(cw.h, st)
	})
	cw.onDrop = func() { c.flights.release(x.skey, fl, nil) }
	// Whatever happens in the handler (a panic, a runtime.Goexit), the followers are released.
	defer c.flights.release(x.skey, fl, nil)
	x.o.Serve(cw, x.r)
	cw.finish()
	if pending == nil || !cw.held || cw.dropped || cw.hijacked || !cw.complete() {
		cw.release(false)
		c.flights.release(x.skey, fl, nil)
		return
	}
	pending.setBody(cw.buf)
	ctx := context.WithoutCancel(x.r.Context())
	if !c.store(ctx, x.skey, pending, c.surrogateKeys(cw.h)) {
		pending = nil
	}
	c.flights.release(x.skey, fl, pending)
	cw.release(pending != nil)
}

// prepare decides, when the head of a response is known, whether it will be stored, and builds
// its entry (without the body). reason explains a refusal in Cache-Status.
func (c *Cache) prepare(x *exchange, cw *capture, reqTime int64) (*entry, string) {
	ok, reason := c.storable(x.ri, x.rt, cw.status, cw.h)
	if !ok {
		return nil, reason
	}
	now := time.Now().UnixNano()
	h := c.storedHeader(cw.h)
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{time.Unix(0, now).UTC().Format(http.TimeFormat)}
	}
	e := &entry{key: x.canon, status: cw.status, header: h, reqTime: reqTime, respTime: now}
	_, e.ccField = responsePolicy(h, c.opts.TargetedCacheControl)
	e.varyNames, _ = varyNames(h)
	if len(e.varyNames) > 0 {
		e.varyVals = varyValues(x.r.Header, e.varyNames)
	}
	if !x.rt.Strategy.IsZero() && !x.ri.auth {
		e.defTTL = int64(x.rt.Strategy.TTL)
		e.defStale = int64(x.rt.Strategy.Stale)
	} else if cc := policyOf(h, e.ccField); !x.ri.auth && !hasExplicitFreshness(h, &cc, e.ccField) {
		// Heuristic freshness is kept where a route's default lifetime would be: both apply
		// only to responses without explicit freshness, and neither to requests with
		// Authorization.
		e.defTTL = c.heuristicLifetime(cw.status, h, &cc, now)
	}
	e.derive()
	if c.keepFor(e, now) <= 0 {
		return nil, "no-freshness"
	}
	return e, ""
}

func (e *entry) setBody(b []byte) {
	e.body = b[:len(b):len(b)]
	e.lengthV = []string{itoa(len(b))}
}
