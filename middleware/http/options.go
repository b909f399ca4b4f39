package httpcache

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stratacache/strata/tiered"
)

// Defaults applied to zero fields of [Options].
const (
	// DefaultMaxBodySize is the largest body stored: 4 MiB. Larger bodies stream through.
	DefaultMaxBodySize = 4 << 20
	// DefaultMaxVariants caps the variants (distinct values of the Vary'd headers) kept per URL.
	DefaultMaxVariants = 16
	// DefaultKeepStale is how long an entry with a validator is kept after it went stale, so that
	// it can be revalidated with a conditional request instead of fetched again.
	DefaultKeepStale = time.Hour
	// DefaultRevalidateTimeout bounds a background revalidation.
	DefaultRevalidateTimeout = 30 * time.Second
	// DefaultL1MaxBytes bounds the in-process cache New builds when Options.Cache is nil: 256 MiB,
	// each entry weighed by its encoded size (status, headers and body) plus a small overhead.
	DefaultL1MaxBytes = 256 << 20
	// DefaultL1Entries is a count of entries for in-process caches built by callers that bound
	// theirs by entries (ottertier.Options.MaxEntries). Such a cache's memory is bounded only by
	// DefaultL1Entries × MaxBodySize (plus headers) in the worst case: prefer a byte bound.
	DefaultL1Entries = 10_000
	// DefaultHeuristicFraction is the share of a response's age at the time it was sent (Date
	// minus Last-Modified) that heuristic freshness gives it, when Options.MaxHeuristicFreshness
	// turns heuristic freshness on.
	DefaultHeuristicFraction = 0.1
	// DefaultName is the cache's name in Cache-Status.
	DefaultName = "strata"
	// DefaultKeyPrefix starts every key the middleware writes to the tiered cache.
	DefaultKeyPrefix = "http:"
	// DefaultSurrogateKeyHeader is the response header through which handlers tag responses.
	DefaultSurrogateKeyHeader = "Surrogate-Key"
)

// DefaultUnkeyedHeaders are request headers that commonly change what a handler generates
// without being part of the URL. A response to a request carrying one of them is stored only when
// the response names the header in Vary, so a reflected value cannot poison the entry that clean
// requests receive. Such requests are still answered from the cache.
var DefaultUnkeyedHeaders = []string{
	"X-Forwarded-Host", "X-Forwarded-Server", "X-Forwarded-Scheme", "X-Forwarded-Proto",
	"X-Forwarded-Port", "X-Forwarded-Prefix", "Forwarded", "X-Host", "X-Original-URL",
	"X-Rewrite-URL", "X-Original-Host", "X-HTTP-Method-Override", "X-HTTP-Method",
	"X-Method-Override",
}

// Options configures a [Cache]. The zero value is a working in-process cache with shared-cache
// semantics and no default TTL.
type Options struct {
	// Cache stores the entries: any tiered cache (entries encode themselves). Nil means an in-process cache bounded to DefaultL1MaxBytes bytes
	// (entries weighed by their encoded size) that [Cache.Close] releases. A cache given here stays the caller's to close, after this one.
	// With a byte tier (Redis) below it, an L1 bounded by bytes (ottertier.Options.MaxBytes)
	// weighs each entry by its encoded size.
	Cache *tiered.Cache
	// Name identifies this cache in Cache-Status. Empty means DefaultName.
	Name string
	// KeyPrefix starts every key written to the tiered cache (which adds its own Namespace for
	// byte tiers). Empty means DefaultKeyPrefix.
	KeyPrefix string
	// MaxBodySize is the largest body stored, in bytes; larger bodies are streamed through
	// unstored. Zero means DefaultMaxBodySize.
	MaxBodySize int64
	// MaxVariants caps the variants kept per URL for responses with Vary. Zero means
	// DefaultMaxVariants.
	MaxVariants int
	// KeepStale is how long an entry with a validator (ETag or Last-Modified) is kept after it
	// went stale (beyond its stale-while-revalidate and stale-if-error windows), for revalidation.
	// Zero means DefaultKeepStale; a negative value keeps nothing past those windows.
	KeepStale time.Duration
	// MaxStaleOnError is how long past its freshness a stored response may be served when the
	// origin fails to answer its revalidation (any 5xx status: a reverse proxy answers 502 or
	// 504 when it gets no response), whether or not the response carries stale-if-error (RFC 9111
	// §4.2.4 allows a disconnected cache to serve stale). Never for responses whose
	// must-revalidate, proxy-revalidate, s-maxage or no-cache forbid it. Entries are kept that
	// much longer. Zero serves stale on error only within stale-if-error windows (RFC 5861).
	// Cache-Status then shows fwd=stale, the origin's fwd-status and detail=origin-error (or
	// detail=stale-if-error within such a window).
	MaxStaleOnError time.Duration
	// MaxHeuristicFreshness, when positive, turns on heuristic freshness (RFC 9111 §4.2.2) and
	// caps it: a response without explicit freshness (max-age, s-maxage, Expires) and without a
	// route default, whose status is heuristically cacheable (200, 203, 204, 300, 301, 308, 404,
	// 405, 410, 414, 501) or that is marked public, and that carries Last-Modified, is fresh for
	// HeuristicFraction of the time between Last-Modified and Date, at most this long. Zero
	// leaves it off: only what the origin says is fresh is reused.
	MaxHeuristicFreshness time.Duration
	// HeuristicFraction is the share of the time since Last-Modified that heuristic freshness
	// gives a response, in (0, 1]. Zero means DefaultHeuristicFraction (10%).
	HeuristicFraction float64
	// StorePOST stores a response to a POST for later GET and HEAD requests of the same URL when
	// it says that it is that URL's representation — Content-Location equal to the request's
	// URL — and how long it is fresh (RFC 9110 §9.3.3), under the same rules as a response to
	// a GET. Off by default: an origin that sets Content-Location carelessly on responses that
	// depend on the request body would have them served to GET requests.
	StorePOST bool
	// NegotiateLanguage lets a request whose Accept-Language strictly prefers one language
	// (a single member with the highest weight, no "*") be answered with a stored variant whose
	// Content-Language is exactly that language, for URLs whose responses vary on Accept-Language
	// alone, although that variant was stored for another Accept-Language value. An origin that
	// negotiates by the field's definition answers such a request with that language, which it
	// has shown it has; one whose response also depends on the rest of the list (links to the
	// other languages the client accepts, say) would see those differences lost. Off by default:
	// variants are then shared only by requests whose normalised Accept-Language is equal.
	NegotiateLanguage bool
	// RevalidateTimeout bounds a background revalidation (stale-while-revalidate). Zero means
	// DefaultRevalidateTimeout.
	RevalidateTimeout time.Duration
	// SurrogateKeyHeader names the response header whose space-separated values tag the entry for
	// purges by tag. The header is removed before the response reaches the client. Empty means
	// DefaultSurrogateKeyHeader.
	SurrogateKeyHeader string
	// UnkeyedHeaders replaces DefaultUnkeyedHeaders when non-nil. An empty non-nil slice disables
	// the protection: do that only behind a proxy that strips those headers from clients.
	UnkeyedHeaders []string
	// TargetedCacheControl lists targeted cache-control fields (RFC 9213) this cache obeys, most
	// specific first, for example {"CDN-Cache-Control"}. When a response carries one with a
	// value, its directives replace those of Cache-Control and Expires for this cache. The
	// fields still reach the client. Nil obeys Cache-Control only.
	TargetedCacheControl []string
	// Logger receives warnings (failed stores, handler panics). Nil is silent. Keys and header
	// values are never logged.
	Logger *slog.Logger
}

// Route is the policy of one route: the same [Cache] can serve routes with different policies.
// The zero Route gives no default TTL: only responses with explicit freshness are reused.
type Route struct {
	// Strategy, when non-zero, gives responses without freshness of their own (no max-age,
	// s-maxage or Expires) a lifetime of Strategy.TTL, and Strategy.Stale acts as their
	// stale-while-revalidate window. It applies only to statuses 200, 203, 204, 300, 301 and 308,
	// never to no-cache responses nor to anything the security defaults exclude.
	Strategy tiered.Strategy
	// NoCoalesce disables request coalescing on this route.
	NoCoalesce bool
}

func (o *Options) resolve() error {
	switch {
	case o.MaxBodySize < 0:
		return fmt.Errorf("%w: MaxBodySize %d is negative", ErrInvalidOptions, o.MaxBodySize)
	case o.MaxVariants < 0:
		return fmt.Errorf("%w: MaxVariants %d is negative", ErrInvalidOptions, o.MaxVariants)
	case o.MaxStaleOnError < 0:
		return fmt.Errorf("%w: MaxStaleOnError %v is negative", ErrInvalidOptions, o.MaxStaleOnError)
	case o.MaxHeuristicFreshness < 0:
		return fmt.Errorf("%w: MaxHeuristicFreshness %v is negative", ErrInvalidOptions, o.MaxHeuristicFreshness)
	case !(o.HeuristicFraction >= 0 && o.HeuristicFraction <= 1): // NaN too
		return fmt.Errorf("%w: HeuristicFraction %v is not in [0, 1]", ErrInvalidOptions, o.HeuristicFraction)
	case o.RevalidateTimeout < 0:
		return fmt.Errorf("%w: RevalidateTimeout %v is negative", ErrInvalidOptions, o.RevalidateTimeout)
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	for i := 0; i < len(o.Name); i++ {
		c := o.Name[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '"' || c == '=' {
			return fmt.Errorf("%w: Name must be a token", ErrInvalidOptions)
		}
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.MaxBodySize == 0 {
		o.MaxBodySize = DefaultMaxBodySize
	}
	if o.MaxVariants == 0 {
		o.MaxVariants = DefaultMaxVariants
	}
	if o.KeepStale == 0 {
		o.KeepStale = DefaultKeepStale
	} else if o.KeepStale < 0 {
		o.KeepStale = 0
	}
	if o.RevalidateTimeout == 0 {
		o.RevalidateTimeout = DefaultRevalidateTimeout
	}
	if o.HeuristicFraction == 0 {
		o.HeuristicFraction = DefaultHeuristicFraction
	}
	if o.SurrogateKeyHeader == "" {
		o.SurrogateKeyHeader = DefaultSurrogateKeyHeader
	}
	o.SurrogateKeyHeader = http.CanonicalHeaderKey(o.SurrogateKeyHeader)
	if o.UnkeyedHeaders == nil {
		o.UnkeyedHeaders = DefaultUnkeyedHeaders
	}
	uk := make([]string, len(o.UnkeyedHeaders))
	for i, h := range o.UnkeyedHeaders {
		uk[i] = http.CanonicalHeaderKey(h)
	}
	o.UnkeyedHeaders = uk
	tc := make([]string, len(o.TargetedCacheControl))
	for i, h := range o.TargetedCacheControl {
		tc[i] = http.CanonicalHeaderKey(h)
	}
	o.TargetedCacheControl = tc
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func (r Route) validate() error {
	if r.Strategy.IsZero() {
		return nil
	}
	if err := r.Strategy.Validate(); err != nil {
		return fmt.Errorf("%w: Route.Strategy: %w", ErrInvalidOptions, err)
	}
	return nil
}
