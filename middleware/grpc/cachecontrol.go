package grpccache

import (
	"strconv"
	"strings"
	"time"
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

// parseCacheControl reads cache-control metadata values: comma-separated directives, names
// case-insensitive, arguments optionally quoted. A malformed max-age counts as max-age=0 (RFC 9111
// §4.2.1: treat the response as stale).
func parseCacheControl(values []string) directives {
	var d directives
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, arg, _ := strings.Cut(part, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "no-store":
				d.noStore = true
			case "no-cache":
				d.noCache = true
			case "private":
				d.private = true
			case "max-age":
				arg = strings.Trim(strings.TrimSpace(arg), `"`)
				secs, err := strconv.ParseInt(arg, 10, 64)
				age := time.Duration(0)
				if err == nil && secs > 0 {
					if secs > int64(maxAgeCap/time.Second) {
						secs = int64(maxAgeCap / time.Second)
					}
					age = time.Duration(secs) * time.Second
				}
				if !d.hasMaxAge || age < d.maxAge {
					d.maxAge = age
				}
				d.hasMaxAge = true
			}
		}
	}
	return d
}

// maxAgeCap bounds a parsed max-age (a year), so that a huge value cannot overflow.
const maxAgeCap = 365 * 24 * time.Hour
