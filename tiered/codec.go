package tiered

import (
	"bytes"
	"compress/gzip"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sync"
)

// Codec turns values into the payload that byte tiers store, and back. A value whose type encodes
// itself — it implements encoding.BinaryMarshaler, and its pointer encoding.BinaryUnmarshaler —
// is stored with those methods instead, whatever the codec: so the HTTP and gRPC adapters' entries
// live in any cache, next to values of every other type.
type Codec interface {
	// Name identifies the codec in logs ("json", ...).
	Name() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into the value ptr points to.
	Unmarshal(data []byte, ptr any) error
}

// JSON is the default codec: encoding/json, readable with redis-cli.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Name() string                       { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, p any) error { return json.Unmarshal(data, p) }

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

// compressor gzips payloads of at least threshold bytes; the envelope's compressed flag marks them.
type compressor struct {
	threshold int
	writers   sync.Pool
}

func (c *compressor) compress(p []byte) ([]byte, bool) {
	if c == nil || len(p) < c.threshold {
		return p, false
	}
	var buf bytes.Buffer
	w, _ := c.writers.Get().(*gzip.Writer)
	if w == nil {
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	} else {
		w.Reset(&buf)
	}
	_, err := w.Write(p)
	if err == nil {
		err = w.Close()
	}
	c.writers.Put(w)
	if err != nil || buf.Len() >= len(p) {
		return p, false
	}
	return buf.Bytes(), true
}

// maxDecompressed bounds what one entry may inflate to, so a hostile entry cannot exhaust memory.
const maxDecompressed = 256 << 20

func decompress(p []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("%w: payload inflates past %d bytes", errCorrupt, maxDecompressed)
	}
	return out, nil
}
