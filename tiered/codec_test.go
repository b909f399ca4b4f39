package tiered_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// rich has what a codec most often gets wrong: times with nanoseconds and a zone offset, maps
// decoded into interface values, nested and long containers, bytes and json tags.
type rich struct {
	At      time.Time      `json:"at"`
	Any     any            `json:"any"`
	Long    []int32        `json:"long"`
	Nested  [][]string     `json:"nested"`
	Bytes   []byte         `json:"bytes"`
	Skipped string         `json:"-"`
	Named   string         `json:"renamed,omitempty"`
	Counts  map[string]int `json:"counts"`
}

// TestDefaultCodecRoundTrips: the default codec gives back what encoding/json would, through a
// byte tier, for a value of every awkward kind; containers longer than the CBOR library's own
// default limits included.
func TestDefaultCodecRoundTrips(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	ctx := context.Background()
	in := rich{
		At:     time.Date(2026, 12, 3, 18, 30, 1, 123456789, time.FixedZone("", 5*3600+1800)),
		Any:    map[string]any{"a": "b", "n": []any{"x"}},
		Long:   make([]int32, 200_000),
		Nested: [][]string{{"a"}, {"b", "c"}},
		Bytes:  []byte{0, 1, 2, 255},
		Named:  "n",
		Counts: map[string]int{"k": 3},
	}
	for i := range in.Long {
		in.Long[i] = int32(i)
	}
	for _, codec := range []tiered.Codec{nil, tiered.JSON} {
		c := newCache(t, tiered.Options{Namespace: ns, Codec: codec, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
		key := "rich"
		if codec != nil {
			key = "rich-" + codec.Name()
		}
		in := in
		in.Skipped = "not stored"
		if err := c.Set(ctx, key, in, tiered.ShortTerm); err != nil {
			t.Fatal(err)
		}
		out, ok, err := tiered.Get[rich](ctx, c, key)
		if err != nil || !ok {
			t.Fatalf("codec %v: Get = %v %v", codec, ok, err)
		}
		if !out.At.Equal(in.At) || out.At.Format(time.RFC3339Nano) != in.At.Format(time.RFC3339Nano) {
			t.Fatalf("codec %v: time %v, want %v", codec, out.At, in.At)
		}
		in.Skipped = ""
		got, _ := json.Marshal(out)
		want, _ := json.Marshal(in)
		if !bytes.Equal(got, want) {
			t.Fatalf("codec %v: round trip differs:\n%.300s\n%.300s", codec, got, want)
		}
		if _, ok := out.Any.(map[string]any); !ok {
			t.Fatalf("codec %v: a map in an interface decodes as %T, want map[string]any", codec, out.Any)
		}
	}
}

// TestJSONCodecIsReadable: with Options.Codec = tiered.JSON the payload in Redis is JSON.
func TestJSONCodecIsReadable(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	ctx := context.Background()
	c := newCache(t, tiered.Options{Namespace: ns, Codec: tiered.JSON, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
	if err := c.Set(ctx, "p", newPayload(7), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, ns+"p").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw[56:]), `"name":"payload-7"`) {
		t.Fatalf("stored payload is not the JSON value: %q", raw[56:])
	}
}

// TestCompressedEntries: payloads above CompressAbove are stored compressed (the envelope's flag
// set, fewer bytes) and read back.
func TestCompressedEntries(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	ctx := context.Background()
	c := newCache(t, tiered.Options{Namespace: ns, CompressAbove: 256, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
	if err := c.Set(ctx, "p", newPayload(7), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, ns+"p").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if raw[3]&2 == 0 || len(raw) > 56+300 {
		t.Fatalf("entry of %d bytes, flags %#x: not compressed", len(raw), raw[3])
	}
	if v, ok, err := tiered.Get[Payload](ctx, c, "p"); err != nil || !ok || v.Body != newPayload(7).Body {
		t.Fatalf("Get = %v %v", ok, err)
	}
}

// TestPreviousFormatIsAMiss: entries the previous release wrote — envelope version 2, payload
// in JSON (the previous default codec) and its fingerprint, optionally gzipped — are misses for
// every reader: Get reports not found without an error, Load calls its loader and replaces them,
// and each is counted as corrupt.
func TestPreviousFormatIsAMiss(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	ctx := context.Background()
	for _, codec := range []tiered.Codec{nil, tiered.JSON} {
		// The previous release's entries: what a JSON cache writes, with the old version byte.
		old := newCache(t, tiered.Options{Namespace: ns, Codec: tiered.JSON, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
		for _, k := range []string{"get", "load", "gzip"} {
			if err := old.Set(ctx, k, newPayload(1), tiered.ShortTerm); err != nil {
				t.Fatal(err)
			}
			raw, err := rdb.Get(ctx, ns+k).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			raw[2] = 2
			if k == "gzip" {
				var z bytes.Buffer
				w := gzip.NewWriter(&z)
				_, _ = w.Write(raw[56:])
				_ = w.Close()
				raw = append(raw[:56:56], z.Bytes()...)
				raw[3] |= 2
				raw[52], raw[53], raw[54], raw[55] = byte(z.Len()>>24), byte(z.Len()>>16), byte(z.Len()>>8), byte(z.Len())
			}
			if err := rdb.Set(ctx, ns+k, raw, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
		c := newCache(t, tiered.Options{Namespace: ns, Codec: codec, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}}})
		for _, k := range []string{"get", "gzip"} {
			if _, ok, err := tiered.Get[Payload](ctx, c, k); ok || err != nil {
				t.Fatalf("codec %v: Get of a previous-format entry = %v, %v; want a miss", codec, ok, err)
			}
		}
		v, err := tiered.Load(ctx, c, "load", tiered.ShortTerm, func(context.Context) (Payload, error) { return newPayload(2), nil })
		if err != nil || v.ID != 2 {
			t.Fatalf("codec %v: Load over a previous-format entry = %v, %v", codec, v.ID, err)
		}
		if s := c.Stats(); s.Corrupt < 2 || s.TypeMismatches != 0 {
			t.Fatalf("codec %v: corrupt %d, type mismatches %d", codec, s.Corrupt, s.TypeMismatches)
		}
		if codec == nil {
			// The loaded value replaced the old entry in Redis.
			fresh := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL2(t, rdb, "redis")}}})
			if v, ok, err := tiered.Get[Payload](ctx, fresh, "load"); err != nil || !ok || v.ID != 2 {
				t.Fatalf("after Load: %v %v %v", v.ID, ok, err)
			}
		}
	}
}
