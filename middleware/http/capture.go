package httpcache

import (
	"bufio"
	"net"
	"net/http"
	"slices"
	"strconv"
)

// captureMode says where the handler's response goes once its head is known.
type captureMode uint8

const (
	modeUndecided captureMode = iota
	modePass                  // to the client only
	modeTee                   // into the buffer, to be stored, and to the client once that is done
	modeDiscard               // nowhere: the engine answers the client itself
)

// capture is the http.ResponseWriter the handler writes to on a miss or a revalidation. The
// response head is decided once, when the handler first writes body bytes, flushes or returns
// (like net/http, which sends the head at that point): decide then picks the mode.
//
// A response to be stored (modeTee) is held: its head and body reach the client when the engine
// calls release, after storing it, so that Cache-Status says "stored" only of a response that
// was, or as soon as the body outgrows the size cap, a flush or a hijack makes it a stream that
// is not stored. A Content-Length above the cap makes it a stream at once: nothing is buffered.
type capture struct {
	w          http.ResponseWriter
	h          http.Header
	status     int
	committed  bool
	mode       captureMode
	buf        []byte
	limit      int64
	n          int64
	dropped    bool // the copy was abandoned (too large, flushed, hijacked)
	held       bool // modeTee: the head has not been sent; the body so far is in buf
	tooLarge   bool // the body is, or is announced to be, larger than the cap
	hijacked   bool
	surrogate  string
	forward1xx bool // informational responses may reach the client

	decide func(cw *capture)
	onDrop func()
	// onHead, when set, runs just before a held head is sent, with whether the response was
	// stored: it writes Cache-Status.
	onHead func(cw *capture, stored bool)
}

func newCapture(w http.ResponseWriter, limit int64, surrogate string, decide func(*capture)) *capture {
	return &capture{w: w, h: make(http.Header), limit: limit, surrogate: surrogate, decide: decide, forward1xx: true}
}

// Header returns the handler's header map; it reaches the client at commit.
func (cw *capture) Header() http.Header { return cw.h }

// WriteHeader records the status. Informational statuses (103 Early Hints and the like) go to
// the client at once with the headers set so far, and are never stored.
func (cw *capture) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if !cw.committed && cw.forward1xx {
			dst := cw.w.Header()
			saved := dst.Clone()
			clear(dst)
			for k, vs := range cw.h {
				dst[k] = vs
			}
			cw.w.WriteHeader(code)
			clear(dst)
			for k, vs := range saved {
				dst[k] = vs
			}
		}
		return
	}
	if cw.committed || cw.status != 0 {
		return
	}
	cw.status = code
}

func (cw *capture) Write(p []byte) (int, error) {
	if !cw.committed {
		cw.commit(p)
	}
	cw.n += int64(len(p))
	switch {
	case cw.mode == modeDiscard:
		return len(p), nil
	case cw.held:
		need := int64(len(cw.buf)) + int64(len(p))
		switch {
		case need > cw.limit:
			cw.tooLarge = true
			cw.release(false) // from here on, a stream
		case need > int64(cap(cw.buf)):
			// Grow by doubling up to the cap: append's gentler growth for large slices
			// would allocate several times the cap on the way to it.
			nb := make([]byte, len(cw.buf), min(max(2*int64(cap(cw.buf)), need, 4096), cw.limit))
			copy(nb, cw.buf)
			cw.buf = append(nb, p...)
			return len(p), nil
		default:
			cw.buf = append(cw.buf, p...)
			return len(p), nil
		}
	}
	n, err := cw.w.Write(p)
	if err != nil {
		cw.drop() // the handler may stop here: what it wrote is not the whole body
	}
	return n, err
}

// WriteString lets io.WriteString skip a conversion.
func (cw *capture) WriteString(s string) (int, error) { return cw.Write([]byte(s)) }

// commit decides the mode and, unless the response is discarded, sends the head to the client.
func (cw *capture) commit(first []byte) {
	cw.committed = true
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	canonicalizeHeader(cw.h)
	if _, ok := cw.h["Content-Type"]; !ok && len(first) > 0 && bodyAllowed(cw.status) {
		if _, enc := cw.h["Content-Encoding"]; !enc {
			cw.h.Set("Content-Type", http.DetectContentType(first))
		}
	}
	cw.decide(cw)
	switch cw.mode {
	case modeDiscard:
		return
	case modeTee:
		if cl := cw.h.Get("Content-Length"); cl != "" {
			if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n > cw.limit {
				cw.tooLarge = true
				cw.held = true
				cw.release(false) // announced too large: streamed, nothing buffered
				return
			} else if err == nil && n >= 0 {
				cw.buf = make([]byte, 0, n)
			}
		}
		cw.held = true
		return
	}
	cw.sendHead()
}

// sendHead sends the response head to the client (the surrogate-key header left out).
func (cw *capture) sendHead() {
	dst := cw.w.Header()
	for k, vs := range cw.h {
		if k != cw.surrogate {
			dst[k] = vs
		}
	}
	cw.w.WriteHeader(cw.status)
}

// release sends a held response on to the client: its head (after onHead, told whether it was
// stored), and the body buffered so far. Unless it was stored, the stored copy is abandoned and
// the rest of the body streams through. It does nothing for a response that is not held.
func (cw *capture) release(stored bool) {
	if !cw.held {
		return
	}
	cw.held = false
	if cw.onHead != nil {
		cw.onHead(cw, stored)
	}
	buf := cw.buf
	if !stored {
		cw.mode = modePass
		cw.drop()
	}
	if _, ok := cw.h["Content-Length"]; !ok && !cw.tooLarge && cw.n == int64(len(buf)) && bodyAllowed(cw.status) {
		// The whole body is known: say how long it is.
		cw.h["Content-Length"] = []string{strconv.Itoa(len(buf))}
	}
	cw.sendHead()
	if len(buf) > 0 {
		if _, err := cw.w.Write(buf); err != nil {
			cw.drop()
		}
	}
}

// canonicalizeHeader merges the values of header names a handler wrote into the map directly
// ("set-cookie", "cache-control") into their canonical names, so that every check of the
// response (storability, Vary, the surrogate-key header) sees them. Values of the canonical name
// come first, then those of the other spellings in sorted order.
func canonicalizeHeader(h http.Header) {
	var odd []string
	for k := range h {
		if http.CanonicalHeaderKey(k) != k {
			odd = append(odd, k)
		}
	}
	if len(odd) == 0 {
		return
	}
	slices.Sort(odd)
	for _, k := range odd {
		vs := h[k]
		if len(vs) == 0 {
			continue
		}
		delete(h, k)
		ck := http.CanonicalHeaderKey(k)
		h[ck] = append(slices.Clip(h[ck]), vs...)
	}
}

// drop abandons the stored copy; the response keeps streaming to the client.
func (cw *capture) drop() {
	if cw.dropped {
		return
	}
	cw.dropped = true
	cw.buf = nil
	if cw.onDrop != nil {
		cw.onDrop()
	}
}

// finish completes a handler that returned without writing.
func (cw *capture) finish() {
	if !cw.committed {
		cw.commit(nil)
	}
}

// Flush sends what was written so far; a flushed response is a stream and is not stored.
func (cw *capture) Flush() { _ = cw.FlushError() }

// FlushError is Flush for http.ResponseController.
func (cw *capture) FlushError() error {
	if !cw.committed {
		cw.commit(nil)
	}
	if cw.mode == modeDiscard {
		return nil
	}
	cw.release(false)
	cw.drop()
	return http.NewResponseController(cw.w).Flush()
}

// Hijack hands the connection to the handler; nothing is stored.
func (cw *capture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if cw.committed && cw.mode == modeDiscard {
		return nil, nil, http.ErrNotSupported
	}
	cw.release(false)
	cw.drop()
	cw.hijacked = true
	cw.committed = true
	if cw.mode == modeUndecided {
		cw.mode = modePass
	}
	return http.NewResponseController(cw.w).Hijack()
}

// Unwrap gives http.ResponseController access to the client's writer (deadlines).
func (cw *capture) Unwrap() http.ResponseWriter { return cw.w }

// complete reports whether the body the handler wrote matches its Content-Length, if any.
func (cw *capture) complete() bool {
	cl := cw.h.Get("Content-Length")
	if cl == "" {
		return true
	}
	n, err := strconv.ParseInt(cl, 10, 64)
	return err == nil && n == cw.n
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// discardWriter is the client of a background revalidation: nobody.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = make(http.Header)
	}
	return d.h
}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
