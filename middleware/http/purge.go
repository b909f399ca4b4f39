package httpcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Invalidator removes entries from every tier of a tiered cache and, through its invalidation
// bus when one is configured, from every instance. *tiered.Cache satisfies it.
type Invalidator interface {
	Invalidate(ctx context.Context, keys ...string) error
	InvalidateTags(ctx context.Context, tags ...string) error
	InvalidatePattern(ctx context.Context, pattern string) error
}

// PurgeOptions configures [Cache.PurgeHandler].
type PurgeOptions struct {
	// Authorize decides whether a purge request may proceed (check a bearer token, a client
	// certificate, a network). It is required: there is no unauthenticated purge.
	Authorize func(*http.Request) bool
	// Invalidator performs tag and pattern purges. Nil means the tiered cache itself, when it
	// implements [Invalidator]; otherwise such purges answer 501.
	Invalidator Invalidator
	// MaxItems caps the URLs and tags of one request. Zero means 100.
	MaxItems int
}

// PurgeHandler returns an http.Handler that removes stored responses. Nothing mounts it: the
// application chooses its path and must supply PurgeOptions.Authorize. It accepts POST (or the
// PURGE method) with parameters in the query or in a form body:
//
//	url=https://example.com/products/42   every variant of that URL (repeatable)
//	tag=product-42                        every response tagged so through the surrogate-key header (repeatable)
//	pattern=https://example.com/products/* every URL matching the Redis-style glob (keys longer than 1 KiB are hashed and never match)
//
// It answers 204 on success, 403 when Authorize refuses, 400 for a malformed request, 501 when a
// tag or pattern purge is not supported by the cache, and 500 when the invalidation failed. It
// returns an error wrapping [ErrInvalidOptions] without Authorize.
func (c *Cache) PurgeHandler(o PurgeOptions) (http.Handler, error) {
	if o.Authorize == nil {
		return nil, fmt.Errorf("%w: PurgeOptions.Authorize is required", ErrInvalidOptions)
	}
	if o.MaxItems < 0 {
		return nil, fmt.Errorf("%w: PurgeOptions.MaxItems is negative", ErrInvalidOptions)
	}
	if o.MaxItems == 0 {
		o.MaxItems = 100
	}
	inv := o.Invalidator
	if inv == nil {
		inv, _ = any(c.tc).(Invalidator)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost && r.Method != "PURGE" {
			w.Header().Set("Allow", "POST, PURGE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !o.Authorize(r) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		urls, tags, patterns := r.Form["url"], r.Form["tag"], r.Form["pattern"]
		if n := len(urls) + len(tags) + len(patterns); n == 0 || n > o.MaxItems {
			http.Error(w, "bad request: give 1 to "+strconv.Itoa(o.MaxItems)+" url, tag or pattern parameters", http.StatusBadRequest)
			return
		}
		var keys []string
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil {
				http.Error(w, "bad request: malformed url", http.StatusBadRequest)
				return
			}
			_, k, ok := c.urlKey(u)
			if !ok {
				http.Error(w, "bad request: url must be absolute http or https", http.StatusBadRequest)
				return
			}
			keys = append(keys, k)
		}
		if (len(tags) > 0 || len(patterns) > 0) && inv == nil {
			http.Error(w, ErrUnsupported.Error(), http.StatusNotImplemented)
			return
		}
		ctx := r.Context()
		var errs []error
		for _, k := range keys {
			errs = append(errs, c.invalidateURL(ctx, k))
		}
		if len(tags) > 0 {
			errs = append(errs, inv.InvalidateTags(ctx, tags...))
		}
		for _, p := range patterns {
			if strings.TrimSpace(p) == "" {
				continue
			}
			errs = append(errs, inv.InvalidatePattern(ctx, globEscape(c.opts.KeyPrefix)+p))
		}
		if err := errors.Join(errs...); err != nil {
			c.opts.Logger.Warn("httpcache: purge failed", "error", err)
			http.Error(w, "purge failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}), nil
}

// globEscape escapes the Redis glob metacharacters of a literal.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
