package grpccache

import (
	"encoding/binary"
	"fmt"
	"slices"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// entry is a cached response: the message and the header and trailer metadata recorded with it.
// Entries are immutable once built; L1 shares them between callers.
type entry struct {
	msg      proto.Message
	header   metadata.MD // without cache-status
	trailer  metadata.MD
	storedAt int64 // when the handler produced the response, Unix nanoseconds
	// freshUntil is when the entry stops being fresh in the cache that stored it under the
	// strategy's nominal TTL, Unix nanoseconds (jitter, drawn by the cache, may end it sooner);
	// 0 when unknown.
	freshUntil int64
}

// The stored form of an entry, after the cache's envelope:
//
//	offset size  field
//	0      1     magic 'G'
//	1      1     format version (1)
//	2      8     stored-at, Unix nanoseconds, big endian
//	10     8     fresh-until, Unix nanoseconds, big endian (0: unknown)
//	18     ...   uvarint length + message type full name
//	             uvarint length + message proto bytes
//	             header:  uvarint pair count, then per pair uvarint length + key, uvarint length + value
//	             trailer: the same
//
// Nothing may follow. The message type is resolved in the global proto registry.
const (
	entryMagic   = 'G'
	entryVersion = 1
	entryFixed   = 18
	maxNameLen   = 511
)

// appendBinary appends the stored form of e to dst.
func (e *entry) appendBinary(dst []byte) ([]byte, error) {
	name := e.msg.ProtoReflect().Descriptor().FullName()
	dst = append(dst, entryMagic, entryVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.storedAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.freshUntil))
	dst = appendBytes(dst, []byte(name))
	mo := proto.MarshalOptions{}
	size := mo.Size(e.msg)
	dst = binary.AppendUvarint(dst, uint64(size))
	start := len(dst)
	dst, err := mo.MarshalAppend(dst, e.msg)
	if err != nil {
		return nil, fmt.Errorf("grpccache: marshal %s: %w", name, err)
	}
	if len(dst)-start != size {
		return nil, fmt.Errorf("grpccache: marshal %s: size changed while encoding", name)
	}
	dst = appendMD(dst, e.header)
	return appendMD(dst, e.trailer), nil
}

// decodeEntry parses the stored form of an entry. Anything malformed is an error wrapping
// ErrCorruptEntry.
func decodeEntry(b []byte) (*entry, error) {
	if len(b) < entryFixed || b[0] != entryMagic {
		return nil, fmt.Errorf("%w: not a cached gRPC response", ErrCorruptEntry)
	}
	if b[1] != entryVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorruptEntry, b[1])
	}
	e := &entry{
		storedAt:   int64(binary.BigEndian.Uint64(b[2:])),
		freshUntil: int64(binary.BigEndian.Uint64(b[10:])),
	}
	r := reader{b: b[entryFixed:]}
	name := r.bytes()
	body := r.bytes()
	e.header = r.md()
	e.trailer = r.md()
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptEntry, len(r.b))
	}
	if len(name) == 0 || len(name) > maxNameLen {
		return nil, fmt.Errorf("%w: bad message type name", ErrCorruptEntry)
	}
	fn := protoreflect.FullName(name)
	if !fn.IsValid() {
		return nil, fmt.Errorf("%w: bad message type name", ErrCorruptEntry)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(fn)
	if err != nil {
		return nil, fmt.Errorf("%w: message type %s: %w", ErrCorruptEntry, fn, err)
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(body, msg); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorruptEntry, fn, err)
	}
	e.msg = msg
	return e, nil
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendMD appends md's pairs, keys sorted so that equal metadata encodes equally.
func appendMD(dst []byte, md metadata.MD) []byte {
	n := 0
	for _, vs := range md {
		n += len(vs)
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range md[k] {
			dst = appendString(dst, k)
			dst = appendString(dst, v)
		}
	}
	return dst
}

// reader decodes length-prefixed fields; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad length", ErrCorruptEntry)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: field of %d bytes overruns the entry", ErrCorruptEntry, n)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) md() metadata.MD {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b))/2 { // every pair takes at least two bytes
		r.err = fmt.Errorf("%w: %d metadata pairs cannot fit", ErrCorruptEntry, n)
		return nil
	}
	if n == 0 {
		return nil
	}
	md := make(metadata.MD)
	for range n {
		k := r.bytes()
		v := r.bytes()
		if r.err != nil {
			return nil
		}
		if len(k) == 0 {
			r.err = fmt.Errorf("%w: empty metadata key", ErrCorruptEntry)
			return nil
		}
		md[string(k)] = append(md[string(k)], string(v))
	}
	return md
}
