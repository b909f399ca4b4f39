package grpccache

import (
	"context"
	"fmt"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Invalidate removes from every tier the stored response of one call: fullMethod with request
// req and incoming metadata md (only the policy's VaryMetadata values count, and authorization
// for an [AuthPerCaller] policy; md may be nil). Call it after a change that makes the response
// wrong, for example from the handler of the method that changed the data. For a method without
// a policy it does nothing. Entries stored per caller can only be removed with that caller's
// authorization; let them expire, or change ServerOptions.Schema to drop everything.
func (s *Server) Invalidate(ctx context.Context, fullMethod string, req proto.Message, md metadata.MD) error {
	m := s.method(fullMethod)
	if m.policy == nil {
		return nil
	}
	var cred []byte
	if auth := md.Get(mdAuthorization); len(auth) > 0 && m.policy.Authorization == AuthPerCaller {
		cred = s.cred.sum(auth)
	}
	lower := make(metadata.MD, len(md))
	for k, v := range md {
		lower.Append(k, v...)
	}
	key, err := buildKey(metadata.NewIncomingContext(ctx, lower), incoming, m.prefix, &m.salt, "", m.policy.VaryMetadata, cred, req)
	if err != nil {
		return fmt.Errorf("grpccache: Invalidate %s: %w", fullMethod, err)
	}
	return s.cache.Invalidate(ctx, key)
}
