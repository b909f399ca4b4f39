package grpccache

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// keyBuf pools the buffers keys are built in.
var keyBuf = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

var deterministic = proto.MarshalOptions{Deterministic: true}

// mdSource says where buildKey reads metadata values: the call's incoming metadata (server) or
// its outgoing metadata (client). Reading single keys spares copying the whole metadata map.
type mdSource uint8

const (
	incoming mdSource = iota
	outgoing
)

func (src mdSource) get(ctx context.Context, key string) []string {
	if src == incoming {
		return metadata.ValueFromIncomingContext(ctx, key)
	}
	return metadata.ValueFromOutgoingContext(ctx, key)
}

// buildKey returns prefix + base64url(SHA-256(salt, target, vary values, credential, request)).
// Every part but the last is fixed-size or length-prefixed; the request's deterministic proto
// encoding comes last, so the parts cannot be confused with one another. The values of the vary
// keys come from ctx's metadata as src says; cred is the hash of the caller's credential, or nil.
func buildKey(ctx context.Context, src mdSource, prefix string, salt *[sha256.Size]byte, target string, vary []string, cred []byte, req proto.Message) (string, error) {
	bp := keyBuf.Get().(*[]byte)
	b := append((*bp)[:0], salt[:]...)
	b = appendString(b, target)
	b = binary.AppendUvarint(b, uint64(len(vary)))
	for _, k := range vary {
		vs := src.get(ctx, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	if cred == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = append(b, cred...)
	}
	b, err := deterministic.MarshalAppend(b, req)
	if err != nil {
		*bp = b[:0]
		keyBuf.Put(bp)
		return "", fmt.Errorf("grpccache: marshal request: %w", err)
	}
	sum := sha256.Sum256(b)
	if cap(b) <= 64<<10 { // do not keep huge buffers alive
		*bp = b[:0]
		keyBuf.Put(bp)
	}
	var enc [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return prefix + string(enc[:]), nil
}

// credHasher hashes authorization values: HMAC-SHA256 under a secret key when one is given, plain
// SHA-256 with a domain separator otherwise. Only the hash ever enters a key.
type credHasher struct {
	key []byte
}

func (c credHasher) sum(values []string) []byte {
	var h hash.Hash
	if len(c.key) > 0 {
		h = hmac.New(sha256.New, c.key)
	} else {
		h = sha256.New()
		h.Write([]byte("strata-grpccache-authorization\x00"))
	}
	var b []byte
	for _, v := range values {
		b = appendString(b[:0], v)
		h.Write(b)
	}
	return h.Sum(nil)
}
