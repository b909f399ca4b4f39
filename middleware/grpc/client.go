package grpccache

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/stratacache/strata/tiered"
)

// ClientOptions configures a [Client]. The zero value is valid: a private in-process cache that
// keeps every response the server marks fresh.
type ClientOptions struct {
	// Cache stores the responses. Nil means a private in-process cache with default settings,
	// released by [Client.Close].
	Cache *tiered.Cache
	// Methods selects the full method names whose responses may be kept. Nil selects every method;
	// the server still decides, with cache-control, which responses are fresh.
	Methods func(fullMethod string) bool
	// VaryMetadata names outgoing metadata keys whose values become part of the key. Outgoing
	// "authorization" always does, hashed: responses are never shared between credentials.
	VaryMetadata []string
	// MaxTTL caps how long a response is kept, whatever max-age the server sent. Zero means no
	// cap beyond the server's.
	MaxTTL time.Duration
	// Schema is hashed into every key; change it to drop every entry kept so far.
	Schema string
	// Logger receives warnings. Nil is silent.
	Logger *slog.Logger
}

// Client holds the state of the client interceptor. It is safe for concurrent use.
type Client struct {
	cache    *tiered.Cache
	ownCache bool
	methods  func(string) bool
	vary     []string
	maxTTL   time.Duration
	salt     [sha256.Size]byte
	cred     credHasher
	log      *slog.Logger
}

// NewClient validates o and builds a Client. Configuration errors wrap [ErrInvalidOptions].
func NewClient(o ClientOptions) (*Client, error) {
	if o.MaxTTL < 0 {
		return nil, fmt.Errorf("%w: MaxTTL %v is negative", ErrInvalidOptions, o.MaxTTL)
	}
	c := &Client{cache: o.Cache, methods: o.Methods, maxTTL: o.MaxTTL, log: o.Logger}
	for _, k := range o.VaryMetadata {
		k = strings.ToLower(k)
		if k == "" {
			return nil, fmt.Errorf("%w: empty VaryMetadata key", ErrInvalidOptions)
		}
		if k != mdAuthorization && !slices.Contains(c.vary, k) {
			c.vary = append(c.vary, k)
		}
	}
	slices.Sort(c.vary)
	var b []byte
	b = appendString(b, "strata-grpccache-client-v1")
	b = appendString(b, o.Schema)
	c.salt = sha256.Sum256(b)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.cache == nil {
		cache, err := tiered.New(tiered.Options{})
		if err != nil {
			return nil, fmt.Errorf("%w: default cache: %w", ErrInvalidOptions, err)
		}
		c.cache, c.ownCache = cache, true
	}
	return c, nil
}

// Close releases the cache the Client created itself when ClientOptions.Cache was nil.
func (c *Client) Close() error {
	if c.ownCache {
		return c.cache.Close()
	}
	return nil
}

// Cache returns the cache the Client keeps responses in.
func (c *Client) Cache() *tiered.Cache { return c.cache }

// callMode is what a call option asks of the client cache.
type callMode uint8

const (
	modeNormal  callMode = iota
	modeRefresh          // skip the read, store the response
	modeBypass           // neither read nor store
)

// cacheCallOption is the grpc.CallOption of [Bypass] and [Refresh]. gRPC itself ignores it.
type cacheCallOption struct {
	grpc.EmptyCallOption
	mode callMode
}

// Bypass is a call option that makes the client interceptor ignore its cache for one call: the
// call goes to the server and its response is not kept.
func Bypass() grpc.CallOption { return cacheCallOption{mode: modeBypass} }

// Refresh is a call option that makes the client interceptor skip its cache's read for one call
// and keep the server's response (when the server marks it fresh) in place of the old one. The
// call carries "cache-control: no-cache", so that the server's cache refreshes its entry too.
func Refresh() grpc.CallOption { return cacheCallOption{mode: modeRefresh} }

// UnaryClientInterceptor returns the interceptor. Install it with grpc.WithChainUnaryInterceptor.
func (c *Client) UnaryClientInterceptor() grpc.UnaryClientInterceptor { return c.intercept }

func (c *Client) intercept(ctx context.Context, fullMethod string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	mode := modeNormal
	for _, o := range opts {
		switch o := o.(type) {
		case cacheCallOption:
			mode = max(mode, o.mode)
		case grpc.PerRPCCredsCallOption:
			// Per-call credentials never show in metadata here, so the key could not tell
			// callers apart.
			mode = modeBypass
		}
	}
	reqMsg, ok1 := req.(proto.Message)
	replyMsg, ok2 := reply.(proto.Message)
	if mode == modeBypass || !ok1 || !ok2 || (c.methods != nil && !c.methods(fullMethod)) {
		return invoker(ctx, fullMethod, req, reply, cc, opts...)
	}
	var cred []byte
	if auth := metadata.ValueFromOutgoingContext(ctx, mdAuthorization); len(auth) > 0 {
		cred = c.cred.sum(auth)
	}
	target := ""
	if cc != nil {
		target = cc.CanonicalTarget()
	}
	key, err := buildKey(ctx, outgoing, "grpcc:"+fullMethod+":", &c.salt, target, c.vary, cred, reqMsg)
	if err != nil {
		return invoker(ctx, fullMethod, req, reply, cc, opts...)
	}
	if mode == modeNormal {
		if c.hit(ctx, key, replyMsg, opts) {
			return nil
		}
		// The fleet's lease on the call (the cache's Options.Leases): one client of the fleet
		// asks the server, the others answer from what it stored.
		release, stored := c.cache.Claim(ctx, key, tiered.Strategy{})
		defer release()
		if stored && c.hit(ctx, key, replyMsg, opts) {
			return nil
		}
	}
	if mode == modeRefresh {
		// Ask the server's caches for a fresh answer too.
		ctx = metadata.AppendToOutgoingContext(ctx, mdCacheControl, "no-cache")
	}
	var header, trailer metadata.MD
	opts = append(opts[:len(opts):len(opts)], grpc.Header(&header), grpc.Trailer(&trailer))
	if err := invoker(ctx, fullMethod, req, reply, cc, opts...); err != nil {
		return err
	}
	d := parseCacheControl(header[mdCacheControl])
	if d.noStore || d.noCache || d.maxAge <= 0 {
		if mode == modeRefresh {
			// The server no longer lets this response be kept: drop the old one.
			if err := c.cache.Invalidate(context.WithoutCancel(ctx), key); err != nil {
				c.log.Warn("grpccache: stale response not removed", "method", fullMethod, "error", err)
			}
		}
		return nil
	}
	ttl := d.maxAge
	if c.maxTTL > 0 {
		ttl = min(ttl, c.maxTTL)
	}
	now := time.Now()
	e := &entry{msg: proto.Clone(replyMsg), header: header, trailer: trailer, storedAt: now.UnixNano(), freshUntil: now.Add(ttl).UnixNano()}
	if err := c.cache.Set(context.WithoutCancel(ctx), key, e, tiered.Custom(ttl)); err != nil {
		c.log.Warn("grpccache: response not fully stored", "method", fullMethod, "error", err)
	}
	return nil
}

// hit answers the call from the cache when it holds a response of the reply's type for key.
func (c *Client) hit(ctx context.Context, key string, replyMsg proto.Message, opts []grpc.CallOption) bool {
	e, found, err := tiered.Get[*entry](ctx, c.cache, key)
	if err != nil || !found || e.msg.ProtoReflect().Descriptor() != replyMsg.ProtoReflect().Descriptor() {
		return false
	}
	proto.Reset(replyMsg)
	proto.Merge(replyMsg, e.msg)
	fillCallMetadata(opts, e)
	return true
}

// fillCallMetadata gives the caller's grpc.Header and grpc.Trailer options the metadata kept with
// e, its cache-status header saying hit.
func fillCallMetadata(opts []grpc.CallOption, e *entry) {
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			if o.HeaderAddr != nil {
				h := e.header.Copy()
				h.Set(mdCacheStatus, StatusHit)
				*o.HeaderAddr = h
			}
		case grpc.TrailerCallOption:
			if o.TrailerAddr != nil {
				*o.TrailerAddr = e.trailer.Copy()
			}
		}
	}
}
