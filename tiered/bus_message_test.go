package tiered

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func sampleBusMessages() []*busMessage {
	now := time.Now().UnixNano()
	return []*busMessage{
		{kind: kindKeys, sender: "a", keys: []string{"k1", "", "k\x00\xff"}},
		{kind: kindUpdate, sender: "instance-0123456789abcdef", key: "user:42", tags: []string{"users", "team:7"},
			entry: envelope{flags: 0, created: now, staleAt: now + int64(time.Minute), expiresAt: now + int64(2*time.Minute), payload: []byte(`{"name":"x"}`)}},
		{kind: kindUpdate, sender: "b", key: "z", entry: envelope{flags: flagCompressed, created: now, staleAt: now + 1, expiresAt: now + 1, payload: []byte{1, 2, 3}}},
		{kind: kindPattern, sender: "c", pattern: "user:[0-9]*"},
		{kind: kindTags, sender: "d", tags: []string{"red"}, keys: []string{"t1", "t2"}},
		{kind: kindTags, sender: "d", tags: []string{"red"}},
		{kind: kindClear, sender: "e"},
	}
}

func TestBusMessageRoundTrip(t *testing.T) {
	for _, m := range sampleBusMessages() {
		frame := encodeBusMessage(m)
		got, err := decodeBusMessage(frame)
		if err != nil {
			t.Fatalf("%s: %v", m.kind, err)
		}
		// Normalise the empty and nil lists and the aliased payload for the comparison.
		if len(got.tags) == 0 && len(m.tags) == 0 {
			got.tags, m.tags = nil, nil
		}
		if len(got.keys) == 0 && len(m.keys) == 0 {
			got.keys, m.keys = nil, nil
		}
		if m.kind == kindUpdate {
			if !bytes.Equal(got.entry.payload, m.entry.payload) {
				t.Fatalf("%s payload %q", m.kind, got.entry.payload)
			}
			got.entry.payload, m.entry.payload = nil, nil
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: decoded %+v, want %+v", m.kind, got, m)
		}
		// Every strict prefix is malformed, never a panic.
		for i := range len(frame) {
			if _, err := decodeBusMessage(frame[:i]); !errors.Is(err, errMalformed) {
				t.Fatalf("%s: prefix of %d bytes: %v", m.kind, i, err)
			}
		}
	}
}

// TestBusMessageSeedCorpus keeps testdata/fuzz/FuzzDecodeBusMessage in step with the encoder:
// run with STRATA_WRITE_CORPUS=1 to rewrite it.
func TestBusMessageSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBusMessage")
	if os.Getenv("STRATA_WRITE_CORPUS") != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, m := range sampleBusMessages() {
			m.entry.created, m.entry.staleAt, m.entry.expiresAt = 1, 2, 3
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(encodeBusMessage(m))) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed-"+strconv.Itoa(i)+"-"+m.kind.String()), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) < len(sampleBusMessages()) {
		t.Fatalf("seed corpus missing (%v): run with STRATA_WRITE_CORPUS=1", err)
	}
}

// FuzzDecodeBusMessage: the decoder never panics, accepts only what re-encodes to the same bytes,
// and rejects everything else as malformed.
func FuzzDecodeBusMessage(f *testing.F) {
	for _, m := range sampleBusMessages() {
		f.Add(encodeBusMessage(m))
	}
	f.Add([]byte("SI"))
	f.Add([]byte("hello world"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeBusMessage(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if again := encodeBusMessage(m); !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v re-encodes to %q, not %q", m, again, b)
		}
	})
}
