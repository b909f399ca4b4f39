// Package httpcache caches HTTP responses in a strata tiered cache with the semantics of a shared
// cache (RFC 9111): Cache-Control, Expires, Age, Vary, validators and 304s, revalidation,
// stale-while-revalidate and stale-if-error, invalidation by unsafe methods, RFC 9211
// Cache-Status, request coalescing and surrogate keys with an authenticated purge.
//
// The folder is middleware/http; the package is named httpcache so that it does not clash with
// net/http. The Echo adapter in middleware/echo (package echocache) drives the same engine.
//
// # Safe by default
//
// Nothing is reused unless the origin says it may be: a response without explicit freshness
// (max-age, s-maxage or Expires) is not served from the cache, except where an application opts a
// route into a default TTL with [Route.Strategy] or turns on heuristic freshness (RFC 9111
// §4.2.2) with [Options.MaxHeuristicFreshness]. Whatever the route, the cache never stores
// responses carrying Set-Cookie, private, no-store or Vary: *, partial content (206), 304s,
// error statuses without explicit freshness, responses to requests with Authorization (unless the
// response is public, s-maxage or must-revalidate and carries explicit freshness of its own: a
// route's default TTL never applies to them), responses to GET or HEAD requests that carry a
// body, or responses to requests carrying headers that commonly change what a handler generates
// without being part of the URL (X-Forwarded-Host and the like, see [Options.UnkeyedHeaders]).
//
// The cache key holds the scheme (https for a request that arrived over TLS, http otherwise,
// whatever an absolute-form request line says), the host (lower-cased, default port removed),
// the path and the query as the server received them ("/p?" and "/p" are different targets),
// and the values of the request headers the response names in Vary, normalised as RFC 9111 §4.1
// allows: several lines count as one, whitespace around list commas does not count (commas in
// quoted strings and comments separate nothing), and Accept-Language, Accept-Encoding and
// Accept-Charset compare as sets of weighted, case-insensitive members (see also
// [Options.NegotiateLanguage]). Keys, header values and bodies never appear in logs or in the Cache-Status header.
//
// # Storage
//
// Entries are kept in a [tiered.Cache]: its in-process L1 holds the parsed entry (an L1 hit parses
// nothing), byte tiers such as Redis hold a compact length-prefixed binary form that entries write
// themselves (encoding.BinaryMarshaler), so any tiered cache holds them, whatever its codec, next
// to values of every other type — one cache can serve decorate, httpcache, echocache and grpccache
// at once. Bodies above [Options.MaxBodySize] are streamed to the client and not stored; responses that
// flush, hijack the connection, upgrade it (WebSocket) or stream events (text/event-stream) are
// passed through without buffering.
//
// Responses with Vary are stored per variant, under a key derived from the URL's key and a hash
// of the normalized values of the Vary'd request headers, with a marker under the URL's key that
// names those headers and lists the variants (at most [Options.MaxVariants]; the oldest goes).
// Two instances storing new variants of one URL at the same moment may each rewrite the marker
// without the other's variant; such a variant is then found by neither lookups nor purges by URL
// (purges by tag or pattern still reach it) and expires with its TTL.
//
// # Coalescing
//
// Concurrent misses of one URL on one instance wait for a single origin request when its response
// turns out storable; they are served from it when their Vary'd headers match, and otherwise, or
// when the response is not storable, go to the origin themselves. Requests with Authorization,
// with their own validators or ranges, or with no-cache, never wait. Concurrent requests that find
// the same stale entry share one revalidation the same way; with stale-while-revalidate, one
// background revalidation per entry runs at a time.
//
// # Cache-Status, ranges, stale responses
//
// Every response carries this cache's member of Cache-Status (RFC 9211), after the members the
// origin's response brought from caches nearer the origin. A stored response the request's own
// directives or Authorization keep from being used is reported fwd=request, a stale one
// fwd=stale; "stored" appears only on a response that was: a response to be stored reaches the
// client once it is, and a body that outgrows [Options.MaxBodySize] (or a Content-Length above
// it) streams through with detail=too-large.
//
// Range requests are answered from stored complete responses (206, multipart/byteranges for
// several ranges, 416 when none can be satisfied); partial responses are never stored.
// When the origin fails to revalidate a stored response (a 5xx), the stored response is served
// within its stale-if-error window or [Options.MaxStaleOnError], never when must-revalidate,
// proxy-revalidate, no-cache or s-maxage forbid it.
//
// # Freshness
//
// Freshness, age and the stale windows are computed here (RFC 9111 §4.2), not by the tiered
// cache: an entry is written with a TTL that covers what is left of its freshness plus its
// stale-while-revalidate and stale-if-error windows and, when it has a validator, [Options.KeepStale]
// for revalidation.
package httpcache
