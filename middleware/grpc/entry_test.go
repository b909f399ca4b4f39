package grpccache

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
)

func sampleEntry() *entry {
	return &entry{
		msg:        &testpb.Item{Id: "1", Name: "one", Version: 7, Attrs: map[string]string{"a": "b"}, Payload: []byte{0, 1, 2}},
		header:     metadata.Pairs("x-h", "1", "x-h", "2", "x-bin-bin", "\x00\xff"),
		trailer:    metadata.Pairs("x-t", ""),
		storedAt:   time.Now().UnixNano(),
		freshUntil: time.Now().Add(time.Minute).UnixNano(),
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range []*entry{sampleEntry(), {msg: &testpb.Item{}, storedAt: 1}} {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got := new(entry)
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.msg, e.msg) || got.storedAt != e.storedAt || got.freshUntil != e.freshUntil {
			t.Fatalf("got %+v, want %+v", got, e)
		}
		if len(got.header) != len(e.header) || len(got.trailer) != len(e.trailer) {
			t.Fatalf("metadata: got %v %v, want %v %v", got.header, got.trailer, e.header, e.trailer)
		}
		for k, v := range e.header {
			if !equalStrings(got.header[k], v) {
				t.Fatalf("header %s: %q, want %q", k, got.header[k], v)
			}
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeEntryRejects(t *testing.T) {
	good, err := sampleEntry().appendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	unknownType, err := (&entry{msg: &testpb.Item{}}).appendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	unknownType = bytes.Replace(unknownType, []byte("strata.grpccache.test.v1.Item"), []byte("strata.grpccache.test.v1.Nope"), 1)
	for name, b := range map[string][]byte{
		"empty":        nil,
		"short":        good[:10],
		"magic":        append([]byte{'X'}, good[1:]...),
		"version":      append([]byte{'G', 9}, good[2:]...),
		"truncated":    good[:len(good)-1],
		"trailing":     append(append([]byte(nil), good...), 0),
		"unknown type": unknownType,
	} {
		if _, err := decodeEntry(b); !errors.Is(err, ErrCorruptEntry) {
			t.Errorf("%s: %v, want ErrCorruptEntry", name, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	good, err := sampleEntry().appendBinary(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("G\x01"))
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not wrap ErrCorruptEntry", err)
			}
			return
		}
		// What decodes re-encodes and decodes to the same message.
		again, err := e.appendBinary(nil)
		if err != nil {
			return // the message may hold what proto refuses to marshal (invalid UTF-8)
		}
		e2, err := decodeEntry(again)
		if err != nil || !proto.Equal(e.msg, e2.msg) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want directives
	}{
		{nil, directives{}},
		{[]string{"no-store"}, directives{noStore: true}},
		{[]string{" No-Cache , private"}, directives{noCache: true, private: true}},
		{[]string{"max-age=60"}, directives{hasMaxAge: true, maxAge: time.Minute}},
		{[]string{`max-age="30"`, "max-age=30"}, directives{hasMaxAge: true, maxAge: 30 * time.Second}},
		// Two different max-age values make the response stale (RFC 9111 §4.2.1).
		{[]string{`max-age="30"`, "max-age=60"}, directives{hasMaxAge: true}},
		// A quoted comma does not end a directive.
		{[]string{`x="a, no-store", max-age=60`}, directives{hasMaxAge: true, maxAge: time.Minute}},
		{[]string{`no-cache="a, b", max-age=5`}, directives{noCache: true, hasMaxAge: true, maxAge: 5 * time.Second}},
		{[]string{"max-age=abc"}, directives{hasMaxAge: true}},
		{[]string{"max-age=-5"}, directives{hasMaxAge: true}},
		{[]string{"max-age=99999999999999999"}, directives{hasMaxAge: true, maxAge: maxAgeCap}},
		{[]string{",,public,, must-revalidate"}, directives{}},
	} {
		if got := parseCacheControl(tc.in); got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestKeyPartsUnambiguous(t *testing.T) {
	var salt [32]byte
	req := &testpb.GetItemRequest{Id: "x"}
	k := func(vary []string, md metadata.MD, cred []byte) string {
		ctx := metadata.NewIncomingContext(context.Background(), md)
		s, err := buildKey(ctx, incoming, "p:", &salt, "", vary, cred, req)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	vary := []string{"a", "b"}
	keys := map[string]string{
		"a=x":       k(vary, metadata.MD{"a": {"x"}}, nil),
		"b=x":       k(vary, metadata.MD{"b": {"x"}}, nil),
		"a=x,y":     k(vary, metadata.MD{"a": {"x", "y"}}, nil),
		"a=xy":      k(vary, metadata.MD{"a": {"xy"}}, nil),
		"a=x b=y":   k(vary, metadata.MD{"a": {"x"}, "b": {"y"}}, nil),
		"a=empty":   k(vary, metadata.MD{"a": {""}}, nil),
		"none":      k(vary, nil, nil),
		"cred":      k(vary, nil, make([]byte, 32)),
		"no vary":   k(nil, nil, nil),
		"vary only": k([]string{"a"}, nil, nil),
	}
	seen := map[string]string{}
	for name, key := range keys {
		if other, ok := seen[key]; ok {
			t.Fatalf("%s and %s share key %s", name, other, key)
		}
		seen[key] = name
	}
	if k(vary, metadata.MD{"a": {"x"}, "c": {"ignored"}}, nil) != keys["a=x"] {
		t.Fatal("metadata outside VaryMetadata changed the key")
	}
}

func TestSaltFollowsSchema(t *testing.T) {
	d := lookupMethod("/strata.grpccache.test.v1.ItemService/GetItem")
	if d == nil || !noSideEffects(d) {
		t.Fatal("GetItem not found or not NO_SIDE_EFFECTS")
	}
	if noSideEffects(lookupMethod("/strata.grpccache.test.v1.ItemService/PutItem")) {
		t.Fatal("PutItem is IDEMPOTENT, not NO_SIDE_EFFECTS")
	}
	if lookupMethod("/nope.Svc/Get") != nil || lookupMethod("bad") != nil {
		t.Fatal("unknown methods found")
	}
	a := saltFor("v1", "/m", d)
	if a != saltFor("v1", "/m", d) || a == saltFor("v2", "/m", d) || a == saltFor("v1", "/m", nil) {
		t.Fatal("salt does not follow schema and descriptors")
	}
}
