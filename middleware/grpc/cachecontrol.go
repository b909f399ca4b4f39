package grpccache

import (
	"time"

	"github.com/stratacache/strata/internal/cachecontrol"
)

// Metadata keys this package reads or writes.
const (
	mdCacheControl  = "cache-control"
	mdCacheStatus   = "cache-status"
	mdAuthorization = "authorization"
)

// Values of the cache-status header.
const (
	StatusHit    = "hit"
	StatusMiss   = "miss"
	StatusBypass = "bypass"
)

// directives holds the cache-control directives this package acts on. Others are ignored.
type directives struct {
	noStore   bool
	noCache   bool
	private   bool
	hasMaxAge bool
	maxAge    time.Duration
}

// parseCacheControl reads cache-control metadata values with the parser the HTTP middleware uses
// (internal/cachecontrol): directive names case-insensitive, arguments optionally quoted (a quoted
// comma does not end a directive). A malformed max-age, or two different ones, count as
// max-age=0 (RFC 9111 §4.2.1: treat the response as stale).
func parseCacheControl(values []string) directives {
	cc := cachecontrol.Parse(values)
	d := directives{
		noStore:   cc.Has(cachecontrol.NoStore),
		noCache:   cc.Has(cachecontrol.NoCache),
		private:   cc.Has(cachecontrol.Private),
		hasMaxAge: cc.Has(cachecontrol.MaxAge),
	}
	if d.hasMaxAge {
		d.maxAge = min(time.Duration(cc.MaxAge)*time.Second, maxAgeCap)
	}
	return d
}

// maxAgeCap bounds a parsed max-age (a year), so that a huge value cannot overflow.
const maxAgeCap = 365 * 24 * time.Hour
