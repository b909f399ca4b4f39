package tiered

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Codec turns values into the payload that byte tiers store, and back.
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
		return nil, fmt.Errorf("%w: %v", ErrCorruptEntry, err)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptEntry, err)
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("%w: payload inflates past %d bytes", ErrCorruptEntry, maxDecompressed)
	}
	return out, nil
}
