package busframe

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func samples() []*Message {
	return []*Message{
		{Kind: Keys, Sender: "a", Keys: []string{"k1", "", "k\x00\xff"}},
		{Kind: Update, Sender: "instance-0123456789abcdef", Key: "user:42", Tags: []string{"users", "team:7"}, Entry: []byte("ST\x02entry bytes")},
		{Kind: Update, Sender: "b", Key: "z", Entry: []byte{1, 2, 3}},
		{Kind: Pattern, Sender: "c", Pattern: "user:[0-9]*"},
		{Kind: Tags, Sender: "d", Tags: []string{"red"}, Keys: []string{"t1", "t2"}},
		{Kind: Tags, Sender: "d", Tags: []string{"red"}},
		{Kind: Clear, Sender: "e"},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range samples() {
		frame := Encode(m)
		got, err := Decode(frame)
		if err != nil {
			t.Fatalf("%s: %v", m.Kind, err)
		}
		// Normalise the empty and nil lists for the comparison.
		if len(got.Tags) == 0 && len(m.Tags) == 0 {
			got.Tags, m.Tags = nil, nil
		}
		if len(got.Keys) == 0 && len(m.Keys) == 0 {
			got.Keys, m.Keys = nil, nil
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: decoded %+v, want %+v", m.Kind, got, m)
		}
		// Every strict prefix is malformed, never a panic — except, for an update, one that cuts
		// into the entry, which is opaque here: the entry comes back truncated, and the cache's
		// envelope check (its length field) rejects it.
		entryAt := len(frame) - len(m.Entry)
		for i := range len(frame) {
			got, err := Decode(frame[:i])
			if m.Kind == Update && i > entryAt {
				if err != nil || !bytes.Equal(got.Entry, m.Entry[:i-entryAt]) {
					t.Fatalf("%s: prefix of %d bytes: %v", m.Kind, i, err)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: prefix of %d bytes: %v", m.Kind, i, err)
			}
		}
	}
}

// TestCorpus keeps testdata/fuzz/FuzzDecode in step with the encoder: run with
// STRATA_WRITE_CORPUS=1 to rewrite it.
func TestCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if os.Getenv("STRATA_WRITE_CORPUS") != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, m := range samples() {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(Encode(m))) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "corpus-"+strconv.Itoa(i)+"-"+m.Kind.String()), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) < len(samples()) {
		t.Fatalf("corpus missing (%v): run with STRATA_WRITE_CORPUS=1", err)
	}
}

// FuzzDecode: the decoder never panics, accepts only what re-encodes to the same bytes, and
// rejects everything else as malformed.
func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		f.Add(Encode(m))
	}
	f.Add([]byte("SI"))
	f.Add([]byte("hello world"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if again := Encode(m); !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v re-encodes to %q, not %q", m, again, b)
		}
	})
}
