package httpcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxPlainKey is the longest canonical key stored as is; longer ones are stored under their
// SHA-256, and the canonical form kept in the entry is compared on every hit.
const maxPlainKey = 1024

// A canonical key is prefix + scheme + "://" + host + path, followed by "?" + query when the
// target has a query, even an empty one: "/p" and "/p?" are different targets (RFC 3986 §6.2.3)
// that an origin may answer differently. It is unambiguous: the scheme holds no ':', the host
// holds no '/' or '?' (requests whose host does are not cached), and the path is the escaped
// path, which holds no '?'. It is readable in redis-cli, and purges by pattern match it.

// requestKey returns the canonical key of r and the key it is stored under. ok is false when the
// request cannot be keyed safely (a host with characters no host has).
func (c *Cache) requestKey(r *http.Request) (canon, storage string, ok bool) {
	scheme := requestScheme(r)
	host, ok := normalizeHost(scheme, r.Host)
	if !ok {
		return "", "", false
	}
	canon = c.buildKey(scheme, host, r.URL.EscapedPath(), r.URL.RawQuery, r.URL.ForceQuery)
	return canon, storageKey(c.opts.KeyPrefix, canon), true
}

// requestScheme is the scheme of the connection r arrived on. The scheme of an absolute-form
// request line (r.URL.Scheme) is the client's to choose and is ignored: a plain HTTP request for
// "https://..." is keyed, and answered, as the HTTP request it is.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// urlKey keys an absolute URL (for purges and for Location-based invalidation).
func (c *Cache) urlKey(u *url.URL) (canon, storage string, ok bool) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", false
	}
	host, ok := normalizeHost(scheme, u.Host)
	if !ok {
		return "", "", false
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	canon = c.buildKey(scheme, host, path, u.RawQuery, u.ForceQuery)
	return canon, storageKey(c.opts.KeyPrefix, canon), true
}

func (c *Cache) buildKey(scheme, host, path, query string, forceQuery bool) string {
	if query == "" && !forceQuery {
		return c.opts.KeyPrefix + scheme + "://" + host + path
	}
	return c.opts.KeyPrefix + scheme + "://" + host + path + "?" + query
}

func storageKey(prefix, canon string) string {
	if len(canon) <= maxPlainKey {
		return canon
	}
	sum := sha256.Sum256([]byte(canon))
	return prefix + "#" + hex.EncodeToString(sum[:])
}

// variantKey is the storage key of the variant of base selected by the normalized Vary'd request
// header values vals.
func variantKey(base, vals string) string {
	sum := sha256.Sum256([]byte(vals))
	return base + "|v=" + hex.EncodeToString(sum[:16])
}

// normalizeHost lower-cases host and strips the scheme's default port. It rejects hosts with
// characters that cannot appear in a host (so that the key stays unambiguous).
func normalizeHost(scheme, host string) (string, bool) {
	lower := true
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'A' && c <= 'Z':
			lower = false
		case c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '\\':
			return "", false
		}
	}
	if !lower {
		host = strings.ToLower(host)
	}
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = host[:len(host)-3]
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = host[:len(host)-4]
	}
	return strings.TrimSuffix(host, ":"), true
}

// varyNames parses the Vary lines of h into sorted canonical header names. star reports Vary: *.
func varyNames(h http.Header) (names []string, star bool) {
	for _, line := range h["Vary"] {
		for f := range strings.SplitSeq(line, ",") {
			f = trimOWS(f)
			if f == "" {
				continue
			}
			if f == "*" {
				return nil, true
			}
			f = http.CanonicalHeaderKey(f)
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	slices.Sort(names)
	return names, false
}

// varyValues returns the normalized values of the request headers named in names (see
// normalizeValue), each length-prefixed (with absent headers told apart from empty ones), as one
// string.
func varyValues(r http.Header, names []string) string {
	var b []byte
	for _, n := range names {
		vs, present := r[n]
		if !present {
			b = append(b, 0)
			continue
		}
		v := normalizeValue(n, vs)
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return string(b)
}
