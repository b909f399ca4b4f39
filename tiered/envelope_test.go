package tiered

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func sampleTimes(now int64) times {
	return times{created: now, refreshAt: now + 5, staleAt: now + 10, swrEnd: now + 15, expiresAt: now + 20}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	now := time.Now().UnixNano()
	in := envelope{flags: flagCompressed, fp: 0xfeedface, t: sampleTimes(now), payload: []byte(`{"a":1}`)}
	b := encodeEnvelope(&in)
	if len(b) != envelopeHeaderLen+len(in.payload) {
		t.Fatalf("encoded length %d", len(b))
	}
	out, err := decodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.flags != in.flags || out.fp != in.fp || out.t != in.t || !bytes.Equal(out.payload, in.payload) {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
}

// TestEnvelopeRejects lists the entries a reader must take for misses.
func TestEnvelopeRejects(t *testing.T) {
	now := time.Now().UnixNano()
	good := encodeEnvelope(&envelope{fp: 7, t: sampleTimes(now), payload: []byte("x")})
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// An entry of format version 1, as the previous release wrote it: a 32-byte header.
	v1 := []byte{'S', 'T', 1, 0}
	v1 = binary.BigEndian.AppendUint64(v1, uint64(now))
	v1 = binary.BigEndian.AppendUint64(v1, uint64(now+10))
	v1 = binary.BigEndian.AppendUint64(v1, uint64(now+10))
	v1 = binary.BigEndian.AppendUint32(v1, 2)
	v1 = append(v1, "{}"...)
	for name, b := range map[string][]byte{
		"empty":                 nil,
		"json":                  []byte(`{"id":1}`),
		"version 1":             v1,
		"version 2":             mutate(func(b []byte) []byte { b[2] = 2; return b }),
		"version 4":             mutate(func(b []byte) []byte { b[2] = 4; return b }),
		"unknown flag":          mutate(func(b []byte) []byte { b[3] = 0x80; return b }),
		"truncated":             good[:len(good)-1],
		"trailing byte":         append(bytes.Clone(good), 0),
		"short header":          good[:envelopeHeaderLen-1],
		"times out of order":    mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[28:], uint64(now-1)); return b }),
		"value without type":    mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[4:], 0); return b }),
		"negative with payload": mutate(func(b []byte) []byte { b[3] = flagNegative; binary.BigEndian.PutUint64(b[4:], 0); return b }),
		"negative with type":    encodeEnvelope(&envelope{flags: flagNegative, fp: 9, t: sampleTimes(now)}),
	} {
		if _, err := decodeEnvelope(b); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: %v, want errCorrupt", name, err)
		}
	}
}

// FuzzDecodeEnvelope feeds arbitrary bytes to the decoder of stored entries: it must never panic,
// must reject with errCorrupt, and what it accepts must re-encode to the same bytes.
func FuzzDecodeEnvelope(f *testing.F) {
	now := time.Now().UnixNano()
	f.Add(encodeEnvelope(&envelope{fp: 42, t: sampleTimes(now), payload: []byte(`{"id":1}`)}))
	f.Add(encodeEnvelope(&envelope{flags: flagNegative, t: times{created: now, refreshAt: now, staleAt: now, swrEnd: now, expiresAt: now}}))
	f.Add([]byte("ST"))
	f.Add([]byte(`{"json":"value"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		if again := encodeEnvelope(&e); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
		}
	})
}

// FuzzDecodeEntry runs the whole read-side decoding (envelope, type check, decompression, codec)
// of a cache entry on arbitrary bytes: an error or a value of the reader's type, never a panic.
func FuzzDecodeEntry(f *testing.F) {
	type rec struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	c, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	fp := typed[rec]{}.fingerprint(c)
	now := time.Now().UnixNano()
	later := now + int64(time.Hour)
	tt := times{created: now, refreshAt: later, staleAt: later, swrEnd: later, expiresAt: later}
	p1, _ := c.codec.Marshal(rec{ID: 1, Name: "x"})
	f.Add(encodeEnvelope(&envelope{fp: fp, t: tt, payload: p1}))
	comp := &compressor{threshold: 1}
	p2, _ := c.codec.Marshal(rec{ID: 2, Name: "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"})
	z, _ := comp.compress(p2)
	f.Add(encodeEnvelope(&envelope{flags: flagCompressed, fp: fp, t: tt, payload: z}))
	f.Add(encodeEnvelope(&envelope{flags: flagNegative, t: tt}))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		it, err := c.decodeItem(&env, typed[rec]{})
		if err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("error %v does not wrap errCorrupt", err)
		}
		if err == nil && !it.negative {
			if _, ok := it.value.(rec); !ok {
				t.Fatalf("decoded %T", it.value)
			}
		}
	})
}
