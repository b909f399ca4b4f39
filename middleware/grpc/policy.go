package grpccache

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stratacache/strata/tiered"
)

// Policy says how the responses of one method are cached. The zero Policy caches with the
// cache's default strategy, keys on the request alone, and bypasses calls that carry
// authorization.
type Policy struct {
	// Strategy is the TTL policy of stored responses. The zero Strategy means the cache's default.
	// It must not set NegativeTTL: gRPC errors are never cached.
	Strategy tiered.Strategy
	// VaryMetadata names incoming metadata keys whose values become part of the key, for
	// responses that depend on them (a locale, a tenant, ":authority"). Keys are matched
	// lowercased. "authorization" cannot be listed: see Authorization.
	VaryMetadata []string
	// Authorization says what happens to calls that carry "authorization" metadata.
	Authorization AuthMode
	// ClientMaxAge, when positive, lets clients reuse responses: the interceptor answers with
	// "cache-control: max-age=N", where N counts down from ClientMaxAge as the stored response
	// ages (and never exceeds its remaining freshness in this cache), with "private" added when
	// responses are cached per caller. A handler that sets "cache-control" itself keeps its own.
	ClientMaxAge time.Duration
}

// AuthMode says how a [Policy] treats calls that carry "authorization" metadata.
type AuthMode uint8

const (
	// AuthBypass, the zero value, neither reads nor stores calls that carry authorization: they
	// always reach the handler (cache-status: bypass).
	AuthBypass AuthMode = iota
	// AuthPerCaller caches per credential: the key includes a hash of the authorization values
	// (keyed with ServerOptions.AuthKey when set), never the values themselves, so a caller only
	// ever hits entries stored for the same credential. A hit does not run the handler, so a
	// credential revoked since the entry was stored is served until the entry expires: keep the
	// TTL short or check credentials in an interceptor placed before this one.
	AuthPerCaller
	// AuthShared ignores authorization: one entry serves every caller. Use it only when an
	// interceptor placed before this one authenticates and authorises every call and the response
	// does not depend on who the caller is.
	AuthShared
)

// String names the mode.
func (a AuthMode) String() string {
	switch a {
	case AuthBypass:
		return "bypass"
	case AuthPerCaller:
		return "per-caller"
	case AuthShared:
		return "shared"
	}
	return fmt.Sprintf("AuthMode(%d)", uint8(a))
}

// Validate reports an error wrapping [ErrInvalidPolicy] when a field is out of range.
func (p Policy) Validate() error {
	if err := p.Strategy.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if p.Strategy.NegativeTTL != 0 {
		return fmt.Errorf("%w: Strategy.NegativeTTL is set, but gRPC errors are never cached", ErrInvalidPolicy)
	}
	if p.Authorization > AuthShared {
		return fmt.Errorf("%w: unknown Authorization mode %d", ErrInvalidPolicy, p.Authorization)
	}
	if p.ClientMaxAge < 0 {
		return fmt.Errorf("%w: ClientMaxAge %v is negative", ErrInvalidPolicy, p.ClientMaxAge)
	}
	for _, k := range p.VaryMetadata {
		switch strings.ToLower(k) {
		case "":
			return fmt.Errorf("%w: empty VaryMetadata key", ErrInvalidPolicy)
		case mdAuthorization:
			return fmt.Errorf("%w: VaryMetadata lists %q; set Authorization instead", ErrInvalidPolicy, k)
		}
	}
	return nil
}

// normalized returns a copy of p with lowercased, de-duplicated, sorted VaryMetadata keys.
func (p Policy) normalized() Policy {
	if len(p.VaryMetadata) == 0 {
		return p
	}
	seen := make(map[string]bool, len(p.VaryMetadata))
	keys := make([]string, 0, len(p.VaryMetadata))
	for _, k := range p.VaryMetadata {
		k = strings.ToLower(k)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	p.VaryMetadata = keys
	return p
}
