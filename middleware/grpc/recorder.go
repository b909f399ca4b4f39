package grpccache

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// recorder is the grpc.ServerTransportStream a cached handler sees in its context. It records the
// header and trailer metadata the handler sets instead of writing them to the real stream: the
// handler may outlive the call that started it (its context keeps that call's values but not its
// cancellation), and what it sets must be replayed to every call its response answers.
type recorder struct {
	method string

	mu         sync.Mutex
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
}

var _ grpc.ServerTransportStream = (*recorder)(nil)

// errHeaderSent mirrors what gRPC answers to a header write after the header was sent.
var errHeaderSent = status.Error(codes.Internal, "grpccache: header metadata already sent")

// Method returns the full method name of the call.
func (r *recorder) Method() string { return r.method }

// SetHeader records md as header metadata.
func (r *recorder) SetHeader(md metadata.MD) error {
	if md.Len() == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.headerSent {
		return errHeaderSent
	}
	r.header = metadata.Join(r.header, md)
	return nil
}

// SendHeader records md as header metadata and refuses later header writes, as gRPC does. The
// header reaches the client with the response.
func (r *recorder) SendHeader(md metadata.MD) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.headerSent {
		return errHeaderSent
	}
	r.headerSent = true
	if md.Len() > 0 {
		r.header = metadata.Join(r.header, md)
	}
	return nil
}

// SetTrailer records md as trailer metadata.
func (r *recorder) SetTrailer(md metadata.MD) error {
	if md.Len() == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trailer = metadata.Join(r.trailer, md)
	return nil
}

// result returns what was recorded. The handler has returned, but a goroutine it left behind
// could still write, so the maps are copied under the lock.
func (r *recorder) result() (header, trailer metadata.MD) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.header.Len() > 0 {
		header = r.header.Copy()
	}
	if r.trailer.Len() > 0 {
		trailer = r.trailer.Copy()
	}
	return header, trailer
}
