// Package grpccache caches unary gRPC responses in a strata tiered cache: a server interceptor
// that answers repeated calls without running the handler, and a client interceptor that reuses
// responses the server marks fresh. The folder is middleware/grpc; the package is named grpccache
// so it does not clash with grpc itself.
//
// # Server
//
// [NewServer] builds a [Server] whose [Server.UnaryServerInterceptor] caches the methods that have
// a [Policy]: those listed in [ServerOptions.Methods], and, when [ServerOptions.NoSideEffects] is
// set, every method whose proto declares
//
//	option idempotency_level = NO_SIDE_EFFECTS;
//
// (looked up once per method in the global proto registry). Other methods pass straight through.
//
// The key of a call is the full method name, the request's deterministic proto encoding, the
// values of the metadata keys the policy names, and a salt made of [ServerOptions.Schema] and a
// fingerprint of the request and response message descriptors, so deployments whose protos differ
// never share entries. The parts are length-prefixed and hashed with SHA-256:
//
//	grpc:<full method>:<base64url SHA-256>
//
// The method stays readable so that every entry of a method can be removed by pattern.
//
// Only responses with status OK are stored; a handler that returned after its context ended, or
// that set "cache-control: no-store" (or "private", unless the policy caches per caller) in its
// response header, stores nothing. The header and trailer metadata the handler set with
// grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer are recorded with the response and replayed
// on hits, and every cached method answers with a "cache-status" header: "hit", "miss" or
// "bypass". Calls carrying "cache-control: no-cache" skip the read and refresh the entry; calls
// carrying "cache-control: no-store" bypass the cache. Calls carrying "authorization" are bypassed
// unless the policy says otherwise (see [AuthMode]).
//
// Concurrent identical calls share one handler call (through [tiered.Load]); each waits until its
// own deadline. Only a response that is stored is shared: when the shared call's result may not
// be stored (an error status, a no-store or private response, an answer after its context ended),
// it goes to the call that started it alone, and each call that waited runs the handler itself
// with its own context, since such a result may belong to one caller. The handler runs with the context of the call that started it — its metadata,
// peer and values — but not its cancellation: the load is bounded by the cache's LoadTimeout
// (and [ServerOptions.HandlerTimeout]), so the response can still serve the other callers and the
// cache when the first caller gives up. The handler sees a recording transport stream in its
// context instead of the real one: grpc.SetHeader and friends work, but grpc.SetSendCompressor
// does not, and headers sent with grpc.SendHeader reach the client with the response.
//
// # Storage
//
// The in-process L1 keeps the response message itself, so a hit is served without unmarshalling:
// the message is shared between callers and handed to gRPC's marshaller, which only reads it (set
// [ServerOptions.CloneResponses] when an outer interceptor modifies responses). Byte tiers such as
// Redis keep the message's proto bytes with its type name and the recorded metadata in a compact
// length-prefixed form that cached responses write themselves (encoding.BinaryMarshaler), so any
// tiered cache holds them, whatever its codec, next to values of every other type.
//
// # Client
//
// [NewClient] builds a [Client] whose [Client.UnaryClientInterceptor] keeps responses that the
// server marked fresh with "cache-control: max-age=N" (the server interceptor sends it when
// [Policy.ClientMaxAge] is set) and copies them into the caller's reply on later identical calls.
// "no-store" and "no-cache" responses are not kept; the call option [Bypass] skips the cache for
// one call and [Refresh] skips the read (asking the server to skip its own with
// "cache-control: no-cache") and stores the response. Keys include the connection's
// target, the request and, hashed, any outgoing "authorization", so one client cache can serve
// several servers and several credentials; calls with a per-call credentials option are never
// cached, as their credentials are not visible to interceptors. On a hit the grpc.Header and
// grpc.Trailer call options receive the kept metadata (with "cache-status: hit"); grpc.Peer is
// left empty. Concurrent identical client calls are not coalesced.
//
// # Failures
//
// The cache fails open: a Redis tier that is down or slow is skipped by the tiered core (within
// its tier timeout), undecodable entries are misses, and a cache that cannot be used at all
// (closed, say) lets every call through to the handler. A panic in a cached handler unwinds every
// call that shared it, as a *tiered.PanicError, for the recovery interceptor in front.
//
// # Invalidation
//
// [Server.Invalidate] removes the entry of one call. Every key of a method starts with
// "grpc:<full method>:" (after the cache's namespace), for removal by pattern.
package grpccache
