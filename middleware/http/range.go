package httpcache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Range requests (RFC 9110 §14) are answered from a stored complete 200 response: one range as a
// 206 with Content-Range, several as a 206 multipart/byteranges, none satisfiable as a 416. The
// full response is sent instead (as RFC 9110 §14.2 allows) when the Range header is not a valid
// bytes range set, when an If-Range condition does not hold, and when the ranges look abusive:
// more than maxRanges of them, overlapping ones, or more bytes than the body itself.
//
// Partial responses (206) from the origin are never stored: a stored entry is always complete.

// maxRanges is the largest number of ranges a multipart answer is built for.
const maxRanges = 16

// byteRange is one satisfiable range, first and last byte included.
type byteRange struct{ first, last int64 }

// serveRange answers a Range request for the stored 200 response e, whose headers are already in
// w.Header(), and reports whether it did; when it did not, the caller sends the full response.
func serveRange(w http.ResponseWriter, r *http.Request, e *entry, lines []string) bool {
	if len(lines) != 1 || !ifRange(r, e) {
		return false
	}
	size := int64(len(e.body))
	ranges, valid := parseRanges(lines[0], size)
	if !valid {
		return false
	}
	h := w.Header()
	switch {
	case len(ranges) == 0:
		h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		delete(h, "Content-Length")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return true
	case len(ranges) == 1:
		rg := ranges[0]
		h["Content-Range"] = []string{contentRange(rg, size)}
		h["Content-Length"] = []string{strconv.FormatInt(rg.last-rg.first+1, 10)}
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(e.body[rg.first : rg.last+1])
		return true
	}
	if len(ranges) > maxRanges {
		return false
	}
	var total int64
	for i, rg := range ranges {
		total += rg.last - rg.first + 1
		for _, o := range ranges[:i] {
			if rg.first <= o.last && o.first <= rg.last {
				return false // overlapping ranges
			}
		}
	}
	if total > size {
		return false
	}
	body, ctype := multipartByteranges(e, ranges, size)
	h["Content-Type"] = []string{ctype}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	delete(h, "Content-Range")
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(body)
	return true
}

func contentRange(rg byteRange, size int64) string {
	return "bytes " + strconv.FormatInt(rg.first, 10) + "-" + strconv.FormatInt(rg.last, 10) + "/" + strconv.FormatInt(size, 10)
}

// multipartByteranges builds a multipart/byteranges body (RFC 9110 §14.6). The boundary is
// derived from the entry, so it is stable for a stored response and cannot occur in it by
// accident more than any random one.
func multipartByteranges(e *entry, ranges []byteRange, size int64) (body []byte, ctype string) {
	sum := sha256.Sum256([]byte(e.key + "\x00" + e.etag + "\x00" + strconv.FormatInt(e.respTime, 10)))
	boundary := "strata-" + hex.EncodeToString(sum[:12])
	partType := e.header.Get("Content-Type")
	var b strings.Builder
	for _, rg := range ranges {
		b.WriteString("\r\n--" + boundary + "\r\n")
		if partType != "" {
			b.WriteString("Content-Type: " + partType + "\r\n")
		}
		b.WriteString("Content-Range: " + contentRange(rg, size) + "\r\n\r\n")
		b.Write(e.body[rg.first : rg.last+1])
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return []byte(b.String()), "multipart/byteranges; boundary=" + boundary
}

// parseRanges parses a Range value against a body of size bytes. valid is false when the value
// is not a bytes range set (the full response is then sent); otherwise ranges holds the
// satisfiable ranges in request order, clipped to the body (empty: none can be satisfied).
func parseRanges(v string, size int64) (ranges []byteRange, valid bool) {
	spec, found := strings.CutPrefix(trimOWS(v), "bytes=")
	if !found {
		return nil, false
	}
	n := 0
	for part := range strings.SplitSeq(spec, ",") {
		part = trimOWS(part)
		if part == "" {
			continue // empty list members are allowed and ignored
		}
		n++
		if n > 2*maxRanges {
			return nil, false // not worth parsing: the full response is sent
		}
		first, last, found := strings.Cut(part, "-")
		if !found {
			return nil, false
		}
		if first == "" { // suffix-byte-range-spec
			k, ok := parseDelta(last)
			if !ok {
				return nil, false
			}
			if k > 0 && size > 0 {
				ranges = append(ranges, byteRange{max(0, size-k), size - 1})
			}
			continue
		}
		f, ok := parseDelta(first)
		if !ok {
			return nil, false
		}
		l := int64(-1)
		if last != "" {
			if l, ok = parseDelta(last); !ok || l < f {
				return nil, false
			}
		}
		if f >= size {
			continue // unsatisfiable
		}
		if l < 0 || l >= size {
			l = size - 1
		}
		ranges = append(ranges, byteRange{f, l})
	}
	if n == 0 {
		return nil, false
	}
	return ranges, true
}

// ifRange reports whether a Range request's If-Range condition (if any) holds for e (RFC 9110
// §13.1.5): a strong match of the entity tag, or a date equal to a strong Last-Modified (one at
// least a second before Date).
func ifRange(r *http.Request, e *entry) bool {
	vs, ok := r.Header["If-Range"]
	if !ok {
		return true
	}
	if len(vs) != 1 {
		return false
	}
	v := trimOWS(vs[0])
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		return !strings.HasPrefix(v, "W/") && !strings.HasPrefix(e.etag, "W/") && v == e.etag
	}
	since, ok := parseHTTPDate(v)
	if !ok || e.lastModified == "" {
		return false
	}
	lm, ok := parseHTTPDate(e.lastModified)
	if !ok || !lm.Equal(since) {
		return false
	}
	date, ok := parseHTTPDate(e.header.Get("Date"))
	return ok && date.Sub(lm) >= time.Second
}
