package tiered

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	now := time.Now().UnixNano()
	in := envelope{flags: flagCompressed, created: now, staleAt: now + 10, expiresAt: now + 20, payload: []byte(`{"a":1}`)}
	b := appendEnvelope(nil, &in)
	if len(b) != envelopeHeaderLen+len(in.payload) {
		t.Fatalf("encoded length %d", len(b))
	}
	out, err := decodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.flags != in.flags || out.created != in.created || out.staleAt != in.staleAt || out.expiresAt != in.expiresAt || !bytes.Equal(out.payload, in.payload) {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
}

// FuzzDecodeEnvelope feeds arbitrary bytes to the decoder of stored entries: it must never panic,
// must reject with ErrCorruptEntry, and what it accepts must re-encode to the same bytes.
func FuzzDecodeEnvelope(f *testing.F) {
	now := time.Now().UnixNano()
	f.Add(appendEnvelope(nil, &envelope{created: now, staleAt: now + 1, expiresAt: now + 2, payload: []byte(`{"id":1}`)}))
	f.Add(appendEnvelope(nil, &envelope{flags: flagNegative, created: now, staleAt: now, expiresAt: now}))
	f.Add([]byte("ST"))
	f.Add([]byte(`{"json":"value"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not wrap ErrCorruptEntry", err)
			}
			return
		}
		if again := appendEnvelope(nil, &e); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
		}
	})
}

// FuzzDecodeEntry runs the whole read-side decoding (envelope, decompression, codec) of a cache
// entry on arbitrary bytes: an error or a value, never a panic.
func FuzzDecodeEntry(f *testing.F) {
	now := time.Now().UnixNano()
	later := now + int64(time.Hour)
	c := &Cache{codec: JSON}
	f.Add(appendEnvelope(nil, &envelope{created: now, staleAt: later, expiresAt: later, payload: []byte(`{"id":1,"name":"x"}`)}))
	comp := &compressor{threshold: 1}
	z, _ := comp.compress([]byte(`{"id":2,"name":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}`))
	f.Add(appendEnvelope(nil, &envelope{flags: flagCompressed, created: now, staleAt: later, expiresAt: later, payload: z}))
	f.Add(appendEnvelope(nil, &envelope{flags: flagNegative, created: now, staleAt: later, expiresAt: later}))
	type rec struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := c.decodeEntry(b, typed[rec]{})
		if err != nil && !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("error %v does not wrap ErrCorruptEntry", err)
		}
		if err == nil && it != nil && !it.negative {
			if _, ok := it.value.(rec); !ok {
				t.Fatalf("decoded %T", it.value)
			}
		}
	})
}
