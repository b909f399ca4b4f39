package httpcache

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/stratacache/strata/tiered"
)

func itoa(n int) string { return strconv.Itoa(n) }

// keepFor is how long the tiered cache keeps e: what is left of its freshness, plus the longest
// window in which it may still be used stale (stale-while-revalidate, stale-if-error,
// Options.MaxStaleOnError) or, for an
// entry with a validator, revalidated (Options.KeepStale).
func (c *Cache) keepFor(e *entry, now int64) time.Duration {
	fresh := e.lifetime - e.age(now)
	var extra int64
	if !e.noStale {
		extra = max(e.swrWindow(), e.sieWindow(), int64(c.opts.MaxStaleOnError))
	}
	if e.hasValidator() {
		extra = max(extra, int64(c.opts.KeepStale))
	}
	return time.Duration(fresh + extra)
}

// store writes e under skey (a response without Vary) or under its variant key, with a marker at
// skey naming the Vary'd headers and listing the variants. It reports whether e was stored.
func (c *Cache) store(ctx context.Context, skey string, e *entry, tags []string) bool {
	now := time.Now().UnixNano()
	ttl := c.keepFor(e, now)
	if ttl <= 0 {
		return false
	}
	var opts []tiered.WriteOption
	if len(tags) > 0 {
		opts = append(opts, tiered.Tags(tags...))
	}
	if len(e.varyNames) == 0 {
		if err := c.tc.Set(ctx, skey, e, tiered.Custom(ttl), opts...); err != nil {
			c.opts.Logger.Warn("httpcache: response not stored", "error", err)
			return false
		}
		return true
	}
	vkey := variantKey(skey, e.varyVals)
	keys := []string{vkey}
	if lang := contentLanguage(e.header); lang != "" && c.opts.NegotiateLanguage && len(e.varyNames) == 1 && e.varyNames[0] == "Accept-Language" {
		keys = append(keys, languageKey(skey, lang)) // see lookupLanguage
	}
	m := &entry{key: e.key, marker: true, varyNames: e.varyNames, variants: keys, header: nil}
	markerTTL := ttl
	var stale []string
	if old, found, err := tiered.Get[*entry](ctx, c.tc, skey); err == nil && found && old.marker && old.key == e.key {
		if slices.Equal(old.varyNames, e.varyNames) {
			vs := slices.DeleteFunc(slices.Clone(old.variants), func(v string) bool { return slices.Contains(keys, v) })
			if over := len(vs) + len(keys) - c.opts.MaxVariants; over > 0 {
				over = min(over, len(vs))
				stale = append(stale, vs[:over]...)
				vs = vs[over:]
			}
			m.variants = append(vs, keys...)
			if rem := time.Duration(old.expiresAt - now); rem > markerTTL {
				markerTTL = rem
			}
		} else {
			stale = append(stale, old.variants...)
		}
	}
	m.expiresAt = now + int64(markerTTL)
	if len(stale) > 0 {
		_ = c.tc.Invalidate(ctx, stale...)
	}
	for _, k := range keys {
		if err := c.tc.Set(ctx, k, e, tiered.Custom(ttl), opts...); err != nil {
			c.opts.Logger.Warn("httpcache: response not stored", "error", err)
			return false
		}
	}
	if err := c.tc.Set(ctx, skey, m, tiered.Custom(markerTTL), opts...); err != nil {
		c.opts.Logger.Warn("httpcache: vary marker not stored", "error", err)
		return false
	}
	return true
}

// invalidateURL removes the response stored under skey and all its variants.
func (c *Cache) invalidateURL(ctx context.Context, skey string) error {
	keys := []string{skey}
	if m, found, err := tiered.Get[*entry](ctx, c.tc, skey); err == nil && found && m.marker {
		keys = append(keys, m.variants...)
	}
	return c.tc.Invalidate(ctx, keys...)
}
