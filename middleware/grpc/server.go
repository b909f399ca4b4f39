package grpccache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/stratacache/strata/tiered"
)

// ServerOptions configures a [Server]. The zero value is valid and caches nothing: every method
// passes straight through until Methods or NoSideEffects says otherwise.
type ServerOptions struct {
	// Cache stores the responses. Nil means a private in-process cache with default settings,
	// released by [Server.Close]. Any tiered cache works: responses encode themselves.
	Cache *tiered.Cache
	// Methods maps full method names ("/pkg.Service/Method") to their policy.
	Methods map[string]Policy
	// NoSideEffects, when set, is the policy of every method that Methods does not list and whose
	// proto declares option idempotency_level = NO_SIDE_EFFECTS.
	NoSideEffects *Policy
	// RequireNoSideEffects restricts caching to methods whose proto declares NO_SIDE_EFFECTS: a
	// method listed in Methods without that declaration (or unknown to the proto registry) passes
	// straight through, and a warning is logged on its first call.
	RequireNoSideEffects bool
	// Schema is hashed into every key. Change it when handlers start answering differently for
	// the same request, so that old entries are not served. Changes to the request and response
	// message definitions are detected on their own.
	Schema string
	// AuthKey, when set, keys the HMAC-SHA256 that turns authorization values into key material
	// for [AuthPerCaller] policies. Without it a plain SHA-256 is used, which someone able to read
	// the keys could test guessed credentials against. Instances sharing a Redis tier must use the
	// same AuthKey.
	AuthKey []byte
	// HandlerTimeout bounds a handler call shared by coalesced calls. Zero means the cache's
	// LoadTimeout alone bounds it.
	HandlerTimeout time.Duration
	// CloneResponses hands every call its own copy of a cached message (and stores a copy of the
	// handler's). Set it when an interceptor outside this one modifies responses, or when handlers
	// return messages they keep and change later; otherwise the message is shared, which is safe
	// because gRPC only reads it to marshal it.
	CloneResponses bool
	// Logger receives warnings (undecodable entries, unusable cache). Nil is silent.
	Logger *slog.Logger
}

// Server holds the state of the server interceptor: its options and the resolved policy of every
// method seen so far. It is safe for concurrent use.
type Server struct {
	cache          *tiered.Cache
	ownCache       bool
	methods        map[string]Policy
	noSideEffects  *Policy
	requireNoSE    bool
	schema         string
	cred           credHasher
	handlerTimeout time.Duration
	clone          bool
	log            *slog.Logger

	resolved sync.Map // full method name → *method
}

// NewServer validates o and builds a Server. Configuration errors wrap [ErrInvalidOptions] (and
// [ErrInvalidPolicy] for a bad policy).
func NewServer(o ServerOptions) (*Server, error) {
	s := &Server{
		cache:          o.Cache,
		methods:        make(map[string]Policy, len(o.Methods)),
		requireNoSE:    o.RequireNoSideEffects,
		schema:         o.Schema,
		cred:           credHasher{key: append([]byte(nil), o.AuthKey...)},
		handlerTimeout: o.HandlerTimeout,
		clone:          o.CloneResponses,
		log:            o.Logger,
	}
	if o.HandlerTimeout < 0 {
		return nil, fmt.Errorf("%w: HandlerTimeout %v is negative", ErrInvalidOptions, o.HandlerTimeout)
	}
	for name, p := range o.Methods {
		if _, _, ok := splitMethod(name); !ok {
			return nil, fmt.Errorf("%w: method %q is not a full method name such as /pkg.Service/Method", ErrInvalidOptions, name)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%w: method %s: %w", ErrInvalidOptions, name, err)
		}
		s.methods[name] = p.normalized()
	}
	if o.NoSideEffects != nil {
		if err := o.NoSideEffects.Validate(); err != nil {
			return nil, fmt.Errorf("%w: NoSideEffects: %w", ErrInvalidOptions, err)
		}
		p := o.NoSideEffects.normalized()
		s.noSideEffects = &p
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cache == nil {
		c, err := tiered.New(tiered.Options{})
		if err != nil {
			return nil, fmt.Errorf("%w: default cache: %w", ErrInvalidOptions, err)
		}
		s.cache, s.ownCache = c, true
	}
	return s, nil
}

// Close releases the cache the Server created itself when ServerOptions.Cache was nil. A cache
// passed in the options stays the caller's to close.
func (s *Server) Close() error {
	if s.ownCache {
		return s.cache.Close()
	}
	return nil
}

// Cache returns the cache the Server stores responses in.
func (s *Server) Cache() *tiered.Cache { return s.cache }

// UnaryServerInterceptor returns the interceptor. Install it with grpc.ChainUnaryInterceptor,
// after the interceptors that authenticate calls and before those that modify responses.
func (s *Server) UnaryServerInterceptor() grpc.UnaryServerInterceptor { return s.intercept }

// method returns the resolved state of fullMethod, resolving it on first use.
func (s *Server) method(fullMethod string) *method {
	if m, ok := s.resolved.Load(fullMethod); ok {
		return m.(*method)
	}
	m, _ := s.resolved.LoadOrStore(fullMethod, s.resolve(fullMethod))
	return m.(*method)
}

func (s *Server) resolve(fullMethod string) *method {
	m := &method{name: fullMethod, prefix: "grpc:" + fullMethod + ":"}
	desc := lookupMethod(fullMethod)
	nse := noSideEffects(desc)
	if p, ok := s.methods[fullMethod]; ok {
		if s.requireNoSE && !nse {
			s.log.Warn("grpccache: method has a policy but does not declare idempotency_level = NO_SIDE_EFFECTS; not caching it", "method", fullMethod)
		} else {
			m.policy = &p
		}
	} else if s.noSideEffects != nil && nse {
		m.policy = s.noSideEffects
	}
	if m.policy == nil {
		return m
	}
	if desc != nil {
		m.output = desc.Output().FullName()
	}
	m.salt = saltFor(s.schema, fullMethod, desc)
	return m
}

// Headers the interceptor sends; gRPC copies them into the stream, so they are shared.
var (
	headerHit    = metadata.Pairs(mdCacheStatus, StatusHit)
	headerMiss   = metadata.Pairs(mdCacheStatus, StatusMiss)
	headerBypass = metadata.Pairs(mdCacheStatus, StatusBypass)
)

// outcome is a handler result that must not be stored: an error, a response produced after the
// handler's context ended, or one the handler marked no-store or private. The tiered load hands it
// to every coalesced call as its error. Only the call whose load ran the handler returns it: such
// a result may be specific to that caller (a PermissionDenied, a private response), so the calls
// that waited on it run the handler themselves.
type outcome struct {
	resp    any
	err     error
	header  metadata.MD
	trailer metadata.MD
}

func (o *outcome) Error() string { return "grpccache: handler result not cacheable" }

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	m := s.method(info.FullMethod)
	if m.policy == nil {
		return handler(ctx, req)
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return s.bypass(ctx, req, handler)
	}
	cc := parseCacheControl(metadata.ValueFromIncomingContext(ctx, mdCacheControl))
	if cc.noStore {
		return s.bypass(ctx, req, handler)
	}
	var cred []byte
	if m.policy.Authorization != AuthShared {
		if auth := metadata.ValueFromIncomingContext(ctx, mdAuthorization); len(auth) > 0 {
			if m.policy.Authorization != AuthPerCaller {
				return s.bypass(ctx, req, handler)
			}
			cred = s.cred.sum(auth)
		}
	}
	key, err := buildKey(ctx, incoming, m.prefix, &m.salt, "", m.policy.VaryMetadata, cred, msg)
	if err != nil {
		s.log.Warn("grpccache: request not cacheable", "method", m.name, "error", err)
		return s.bypass(ctx, req, handler)
	}
	if cc.noCache {
		return s.answer(ctx, m, key, req, handler, true)
	}
	start := time.Now().UnixNano()
	var led atomic.Bool // set when the load runs this call's handler call rather than another's
	e, err := tiered.Load(ctx, s.cache, key, m.policy.Strategy, func(lctx context.Context) (*entry, error) {
		led.Store(true)
		e, out := s.run(lctx, m, req, handler)
		if out != nil {
			return nil, out
		}
		return e, nil
	})
	if err == nil {
		if m.output != "" && e.msg.ProtoReflect().Descriptor().FullName() != m.output {
			// A foreign entry under this key: drop it and answer from the handler.
			s.log.Warn("grpccache: cached response has the wrong type; dropping it", "method", m.name)
			_ = s.cache.Invalidate(context.WithoutCancel(ctx), key)
			return s.bypass(ctx, req, handler)
		}
		st := StatusHit
		if e.storedAt >= start {
			st = StatusMiss // produced by a handler call made while this call waited
		}
		s.replay(ctx, m, e.header, e.trailer, st, e)
		if s.clone {
			return proto.Clone(e.msg), nil
		}
		return e.msg, nil
	}
	var out *outcome
	if errors.As(err, &out) {
		if !led.Load() {
			// Another call's result that may not be shared: answer from a handler call of our own.
			return s.answer(ctx, m, key, req, handler, false)
		}
		s.replay(ctx, m, out.header, out.trailer, StatusMiss, nil)
		if pm, ok := out.resp.(proto.Message); ok && s.clone && out.err == nil {
			return proto.Clone(pm), nil
		}
		return out.resp, out.err
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	var pe *tiered.PanicError
	if errors.As(err, &pe) {
		// Without the cache the handler's panic would have unwound this call: keep it so, for the
		// recovery interceptor (or the crash) the service relies on.
		panic(pe)
	}
	// The cache could not be used (closed, a fail-closed tier down, a foreign value under the
	// key): answer from the handler.
	s.log.Warn("grpccache: cache unusable for this call; calling the handler", "method", m.name, "error", err)
	return s.bypass(ctx, req, handler)
}

// run calls the handler with a recording transport stream and returns the entry to store, or the
// outcome to return without storing.
func (s *Server) run(ctx context.Context, m *method, req any, handler grpc.UnaryHandler) (*entry, *outcome) {
	if s.handlerTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.handlerTimeout)
		defer cancel()
	}
	rec := &recorder{method: m.name}
	resp, err := handler(grpc.NewContextWithServerTransportStream(ctx, rec), req)
	header, trailer := rec.result()
	out := &outcome{resp: resp, err: err, header: header, trailer: trailer}
	if err != nil || ctx.Err() != nil {
		return nil, out
	}
	msg, ok := resp.(proto.Message)
	if !ok || msg == nil || !msg.ProtoReflect().IsValid() {
		return nil, out
	}
	if cc := parseCacheControl(header[mdCacheControl]); cc.noStore || (cc.private && m.policy.Authorization != AuthPerCaller) {
		return nil, out
	}
	if s.clone {
		msg = proto.Clone(msg)
	}
	now := time.Now()
	e := &entry{msg: msg, header: header, trailer: trailer, storedAt: now.UnixNano()}
	if st := m.policy.Strategy; st.TTL > 0 {
		// The strategy's nominal freshness: the cache draws the entry's jitter itself, and may
		// end it sooner.
		e.freshUntil = now.Add(st.TTL).UnixNano()
	}
	return e, nil
}

// answer calls the handler in the call's own context, without coalescing, and stores a cacheable
// response. It answers no-cache calls (replace set: an OK response that may not be stored removes
// the stored one; an error leaves it in place) and calls that waited on another call's handler
// result that could not be shared.
func (s *Server) answer(ctx context.Context, m *method, key string, req any, handler grpc.UnaryHandler, replace bool) (any, error) {
	e, out := s.run(ctx, m, req, handler)
	if out != nil {
		if replace && out.err == nil && ctx.Err() == nil {
			// An OK answer that may not be stored: the stored one is no longer right either.
			if err := s.cache.Invalidate(context.WithoutCancel(ctx), key); err != nil {
				s.log.Warn("grpccache: stale response not removed", "method", m.name, "error", err)
			}
		}
		s.replay(ctx, m, out.header, out.trailer, StatusMiss, nil)
		return out.resp, out.err
	}
	if err := s.cache.Set(context.WithoutCancel(ctx), key, e, m.policy.Strategy); err != nil {
		s.log.Warn("grpccache: response not fully stored", "method", m.name, "error", err)
	}
	s.replay(ctx, m, e.header, e.trailer, StatusMiss, e)
	resp := any(e.msg)
	if s.clone {
		resp = proto.Clone(e.msg)
	}
	return resp, nil
}

// bypass answers from the handler alone.
func (s *Server) bypass(ctx context.Context, req any, handler grpc.UnaryHandler) (any, error) {
	_ = grpc.SetHeader(ctx, headerBypass)
	return handler(ctx, req)
}

// replay sets recorded header and trailer metadata, the cache-status header and, for a stored
// entry e of a policy with ClientMaxAge, the cache-control header clients follow. Errors (a
// header already sent by an outer interceptor) are ignored, as the handler's own would be.
func (s *Server) replay(ctx context.Context, m *method, header, trailer metadata.MD, st string, e *entry) {
	switch st {
	case StatusHit:
		_ = grpc.SetHeader(ctx, headerHit)
	default:
		_ = grpc.SetHeader(ctx, headerMiss)
	}
	if len(header) > 0 {
		_ = grpc.SetHeader(ctx, header)
	}
	if e != nil && m.policy.ClientMaxAge > 0 && len(header[mdCacheControl]) == 0 {
		_ = grpc.SetHeader(ctx, metadata.Pairs(mdCacheControl, clientCacheControl(m.policy, e, time.Now().UnixNano())))
	}
	if len(trailer) > 0 {
		_ = grpc.SetTrailer(ctx, trailer)
	}
}

// clientCacheControl is the cache-control value sent with entry e at time now. As in HTTP, the
// age is counted in whole seconds: max-age = ClientMaxAge - age, and never more than the entry's
// remaining freshness here.
func clientCacheControl(p *Policy, e *entry, now int64) string {
	const sec = int64(time.Second)
	secs := int64(p.ClientMaxAge)/sec - max(now-e.storedAt, 0)/sec
	if e.freshUntil != 0 {
		secs = min(secs, (e.freshUntil-now)/sec)
	}
	v := "max-age=" + strconv.FormatInt(max(secs, 0), 10)
	if p.Authorization == AuthPerCaller {
		v = "private, " + v
	}
	return v
}
