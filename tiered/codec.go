package tiered

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/fxamacker/cbor/v2"
	"github.com/klauspost/compress/s2"
)

// Codec turns values into the payload that byte tiers store, and back. A value whose type encodes
// itself — it implements encoding.BinaryMarshaler, and its pointer encoding.BinaryUnmarshaler —
// is stored with those methods instead, whatever the codec: so the HTTP and gRPC adapters' entries
// live in any cache, next to values of every other type.
type Codec interface {
	// Name identifies the codec in logs ("cbor", "json", ...). It is part of every entry's type
	// fingerprint: instances that share a byte tier must use codecs of the same name.
	Name() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into the value ptr points to.
	Unmarshal(data []byte, ptr any) error
}

// JSON is encoding/json, for entries readable with redis-cli: set Options.Codec to it. The
// default codec (a nil Options.Codec) is CBOR (RFC 8949), which encodes and decodes the usual
// struct several times faster and in fewer bytes. Both honour `json` struct tags.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Name() string                       { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, p any) error { return json.Unmarshal(data, p) }

// defaultCodec is the codec of a cache whose Options.Codec is nil: CBOR with
// github.com/fxamacker/cbor/v2, configured to round-trip what encoding/json round-trips (struct
// fields by name, `json` tags honoured, times to the nanosecond with their offset, maps decoded
// into an interface value as map[string]any) and to decode containers of any length and of a
// nesting depth up to encoding/json's own limit.
var defaultCodec Codec = newCBOR()

type cborCodec struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

func newCBOR() cborCodec {
	enc, err := cbor.EncOptions{Time: cbor.TimeRFC3339Nano}.EncMode()
	if err != nil {
		panic(err) // constant options
	}
	dec, err := cbor.DecOptions{
		MaxNestedLevels:  10000,
		MaxArrayElements: math.MaxInt32,
		MaxMapPairs:      math.MaxInt32,
		DefaultMapType:   reflect.TypeFor[map[string]any](),
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return cborCodec{enc, dec}
}

func (cborCodec) Name() string                         { return "cbor" }
func (c cborCodec) Marshal(v any) ([]byte, error)      { return c.enc.Marshal(v) }
func (c cborCodec) Unmarshal(data []byte, p any) error { return c.dec.Unmarshal(data, p) }

// encode marshals v — with its own MarshalBinary when its type encodes itself, with the codec
// otherwise — and compresses it when configured; flags carries the envelope's compressed bit.
func (c *Cache) encode(v any) (payload []byte, flags uint8, err error) {
	if payload, err = c.marshal(v); err != nil {
		return nil, 0, err
	}
	if p, ok := c.comp.compress(payload); ok {
		return p, flagCompressed, nil
	}
	return payload, 0, nil
}

// marshal encodes v uncompressed: with its own MarshalBinary when its type encodes itself, with
// the codec otherwise.
func (c *Cache) marshal(v any) ([]byte, error) {
	if v != nil && c.fps.info(reflect.TypeOf(v)).self {
		p, err := v.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("tiered: %T cannot encode itself: %w", v, err)
		}
		return p, nil
	}
	p, err := c.codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("tiered: %s codec cannot encode %T: %w", c.codec.Name(), v, err)
	}
	return p, nil
}

// decodeAs decodes payload into a new value of type t, as typed[t] would.
func (c *Cache) decodeAs(t reflect.Type, payload []byte) (any, error) {
	if c.fps.info(t).self {
		var ptr reflect.Value
		if t.Kind() == reflect.Pointer {
			ptr = reflect.New(t.Elem())
			err := ptr.Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(payload)
			return ptr.Interface(), err
		}
		ptr = reflect.New(t)
		err := ptr.Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(payload)
		return ptr.Elem().Interface(), err
	}
	ptr := reflect.New(t)
	if err := c.codec.Unmarshal(payload, ptr.Interface()); err != nil {
		return nil, err
	}
	return ptr.Elem().Interface(), nil
}

// compressor compresses payloads of at least threshold bytes with S2 (the Snappy-compatible
// format of github.com/klauspost/compress, several times faster than gzip at a slightly lower
// ratio); the envelope's compressed flag marks them.
type compressor struct {
	threshold int
}

func (c *compressor) compress(p []byte) ([]byte, bool) {
	if c == nil || len(p) < c.threshold {
		return p, false
	}
	out := s2.Encode(nil, p)
	if len(out) >= len(p) {
		return p, false
	}
	return out, true
}

// maxDecompressed bounds what one entry may inflate to, so a hostile entry cannot exhaust memory.
const maxDecompressed = 256 << 20

func decompress(p []byte) ([]byte, error) {
	n, err := s2.DecodedLen(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if n > maxDecompressed {
		return nil, fmt.Errorf("%w: payload inflates past %d bytes", errCorrupt, maxDecompressed)
	}
	out, err := s2.Decode(make([]byte, n), p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return out, nil
}
