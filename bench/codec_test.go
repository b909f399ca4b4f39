package bench

// The codec study: what encoding the 1 KiB Record costs and weighs with each candidate for
// strata's default codec, and how each behaves with the values a cache meets.
//
//	go test -run '^$' -bench '^BenchmarkCodecs$' -benchtime 20000x -count 5 . | go run ./cmd/benchreport
//	go test -run TestCodecBehaviour -v .

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	"github.com/fxamacker/cbor/v2"
	gojson "github.com/goccy/go-json"
	"github.com/klauspost/compress/s2"
	shamaton "github.com/shamaton/msgpack/v3"
	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// codec has the shape of strata's tiered.Codec: Marshal(any) and Unmarshal(data, ptr).
type codec struct {
	id        string
	marshal   func(v any) ([]byte, error)
	unmarshal func(data []byte, ptr any) error
}

// s2Threshold is where go-redis/cache and jetcache-go start compressing with s2.
const s2Threshold = 64

// Flags of msgpackS2's last byte, as go-redis/cache writes them.
const (
	s2None       = 0
	s2Compressed = 1
)

// msgpackS2 is go-redis/cache's codec: msgpack, then s2 from 64 bytes on, and a last byte that
// says which.
var msgpackS2 = codec{
	id: "msgpack-s2",
	marshal: func(v any) ([]byte, error) {
		b, err := msgpack.Marshal(v)
		if err != nil {
			return nil, err
		}
		if len(b) < s2Threshold {
			return append(b, s2None), nil
		}
		out := s2.Encode(make([]byte, 0, s2.MaxEncodedLen(len(b))+1), b)
		return append(out, s2Compressed), nil
	},
	unmarshal: func(data []byte, p any) error {
		if len(data) == 0 {
			return errors.New("empty")
		}
		body := data[:len(data)-1]
		switch data[len(data)-1] {
		case s2None:
		case s2Compressed:
			var err error
			if body, err = s2.Decode(nil, body); err != nil {
				return err
			}
		default:
			return errors.New("unknown compression")
		}
		return msgpack.Unmarshal(body, p)
	},
}

// cborNano is CBOR with times written as RFC 3339 strings with nanoseconds: CBOR's default
// writes whole Unix seconds, losing sub-second precision and the zone.
var cborNano = func() codec {
	em, err := cbor.EncOptions{Time: cbor.TimeRFC3339Nano}.EncMode()
	if err != nil {
		panic(err)
	}
	dm, err := cbor.DecOptions{}.DecMode()
	if err != nil {
		panic(err)
	}
	return codec{id: "cbor-nano", marshal: em.Marshal, unmarshal: dm.Unmarshal}
}()

var codecs = []codec{
	{id: "json", marshal: json.Marshal, unmarshal: json.Unmarshal},
	{id: "gojson", marshal: gojson.Marshal, unmarshal: gojson.Unmarshal},
	{id: "sonic", marshal: sonic.Marshal, unmarshal: sonic.Unmarshal},
	{id: "msgpack", marshal: msgpack.Marshal, unmarshal: msgpack.Unmarshal},
	msgpackS2,
	{id: "shamaton", marshal: shamaton.Marshal, unmarshal: shamaton.Unmarshal},
	{id: "cbor", marshal: cbor.Marshal, unmarshal: cbor.Unmarshal},
	cborNano,
	{id: "gob", marshal: gobMarshal, unmarshal: gobUnmarshal},
}

// generated is msgpack through code generated for Record by tinylib/msgp (record_msgp.go): no
// reflection, what a codec that prefers a type's own marshalling methods would run. It encodes
// only types it was generated for, so it stays out of TestCodecBehaviour.
var generated = codec{
	id: "msgp",
	marshal: func(v any) ([]byte, error) {
		m, ok := v.(msgp.Marshaler)
		if !ok {
			return nil, fmt.Errorf("%T has no generated MarshalMsg", v)
		}
		return m.MarshalMsg(nil)
	},
	unmarshal: func(data []byte, p any) error {
		u, ok := p.(msgp.Unmarshaler)
		if !ok {
			return fmt.Errorf("%T has no generated UnmarshalMsg", p)
		}
		_, err := u.UnmarshalMsg(data)
		return err
	},
}

// gobMarshal encodes one value as a cache entry must be: on its own, with its type description.
func gobMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gobUnmarshal(data []byte, p any) error { return gob.NewDecoder(bytes.NewReader(data)).Decode(p) }

var sinkBytes []byte

// BenchmarkCodecs encodes and decodes the Record with every codec, interleaved: id-enc-ns/op is
// a Marshal of the record, id-dec-ns/op an Unmarshal of its bytes into a new Record (what an L2
// hit decodes), id-bytes the size of the encoded record.
func BenchmarkCodecs(b *testing.B) {
	rec := NewRecord(42)
	var cs []contender
	sizes := map[string]int{}
	for _, c := range append(codecs, generated) {
		data, err := c.marshal(&rec)
		if err != nil {
			b.Fatalf("%s: %v", c.id, err)
		}
		var back Record
		if err := c.unmarshal(data, &back); err != nil {
			b.Fatalf("%s: %v", c.id, err)
		}
		if back.ID != rec.ID || back.Description != rec.Description || len(back.Variants) != len(rec.Variants) ||
			!back.UpdatedAt.Equal(rec.UpdatedAt) || back.Attributes["fit"] != rec.Attributes["fit"] {
			b.Fatalf("%s: the record does not survive a round trip", c.id)
		}
		sizes[c.id] = len(data)
		cs = append(cs,
			contender{id: c.id + "-enc", op: func(int) error {
				out, err := c.marshal(&rec)
				sinkBytes = out
				return err
			}},
			contender{id: c.id + "-dec", op: func(int) error {
				var r Record
				err := c.unmarshal(data, &r)
				sink = r
				return err
			}},
		)
	}
	warm(b, cs, 0, 200)
	interleave(b, 500, cs)
	for id, n := range sizes { // after interleave: resetting the timer drops custom metrics
		b.ReportMetric(float64(n), id+"-bytes")
	}
}

// behaviour describes, for one codec, what happens to the values a cache meets.
type behaviour struct {
	roundTrip  string // the Record after a round trip: "equal" or what differs
	time       string // a time with nanoseconds at +02:00: "exact", "instant" (zone lost), or what differs
	unexported string // an unexported field: "dropped", "kept" or the error
	iface      string // an interface field holding a struct: the decoded dynamic type, or the error
	intMap     string // a map[int64]string: "ok" or what differs
	otherType  string // a Record decoded into a struct sharing no field: "silent" or "error"
	fieldType  string // a Record decoded into a struct whose ID is a string: "silent" or "error"
}

func describe(c codec) behaviour {
	var bh behaviour
	rec := NewRecord(42)
	var back Record
	bh.roundTrip = roundTrip(c, &rec, &back, func() string {
		switch {
		case !back.CreatedAt.Equal(rec.CreatedAt) || !back.Seller.JoinedAt.Equal(rec.Seller.JoinedAt):
			return "times differ"
		case back.CreatedAt.Location() == time.Local:
			return "equal, times in time.Local, not UTC"
		case back.CreatedAt.Location() != rec.CreatedAt.Location():
			return "equal, times in " + back.CreatedAt.Location().String() + ", not UTC"
		}
		b1, _ := json.Marshal(rec)
		b2, _ := json.Marshal(back)
		if !bytes.Equal(b1, b2) {
			return "differs"
		}
		return "equal"
	})

	type timed struct{ T time.Time }
	in := timed{time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("", 2*3600))}
	var out timed
	bh.time = roundTrip(c, &in, &out, func() string {
		_, o1 := in.T.Zone()
		_, o2 := out.T.Zone()
		switch {
		case out.T.Equal(in.T) && o1 == o2:
			return "exact"
		case out.T.Equal(in.T):
			return "instant, zone lost"
		case out.T.Truncate(time.Second).Equal(in.T.Truncate(time.Second)):
			return "whole seconds"
		}
		return "differs: " + out.T.String()
	})

	type withUnexported struct {
		A int
		b int
	}
	uin, uout := withUnexported{A: 1, b: 2}, withUnexported{}
	bh.unexported = roundTrip(c, &uin, &uout, func() string {
		if uout.b == 2 {
			return "kept"
		}
		return "dropped"
	})

	type withIface struct{ V any }
	iin := withIface{V: Seller{ID: 7, Name: "x"}}
	var iout withIface
	bh.iface = roundTrip(c, &iin, &iout, func() string { return fmt.Sprintf("%T", iout.V) })

	type withMap struct{ M map[int64]string }
	min, mout := withMap{M: map[int64]string{1: "a", -2: "b"}}, withMap{}
	bh.intMap = roundTrip(c, &min, &mout, func() string {
		if len(mout.M) == 2 && mout.M[1] == "a" && mout.M[-2] == "b" {
			return "ok"
		}
		return fmt.Sprintf("%v", mout.M)
	})

	data, err := c.marshal(&rec)
	if err != nil {
		bh.otherType, bh.fieldType = "encode error", "encode error"
		return bh
	}
	var other struct {
		Foo string
		Bar []int
	}
	bh.otherType = outcome(c.unmarshal(data, &other))
	var wrong struct {
		ID   string `json:"id" msgpack:"id"`
		Name string `json:"name" msgpack:"name"`
	}
	bh.fieldType = outcome(c.unmarshal(data, &wrong))
	return bh
}

// roundTrip encodes in, decodes into out and returns check's verdict, or the error.
func roundTrip(c codec, in, out any, check func() string) string {
	data, err := c.marshal(in)
	if err != nil {
		return "encode error: " + shortErr(err)
	}
	if err := c.unmarshal(data, out); err != nil {
		return "decode error: " + shortErr(err)
	}
	return check()
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "silent"
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// TestCodecBehaviour records how each candidate codec treats times, unexported fields,
// interfaces, integer-keyed maps, and bytes of another type, and fails when a codec's behaviour
// changes from what the study reports.
func TestCodecBehaviour(t *testing.T) {
	jsonLike := behaviour{"equal", "exact", "dropped", "map[string]interface {}", "ok", "silent", "error"}
	msgpackLike := behaviour{"equal, times in time.Local, not UTC", "instant, zone lost", "dropped", "map[string]interface {}", "ok", "silent", "error"}
	want := map[string]behaviour{
		"json":       jsonLike,
		"gojson":     jsonLike,
		"sonic":      jsonLike,
		"msgpack":    msgpackLike,
		"msgpack-s2": msgpackLike,
		"shamaton":   {"equal", "instant, zone lost", "dropped", "map[interface {}]interface {}", "ok", "silent", "error"},
		"cbor":       {"equal, times in time.Local, not UTC", "whole seconds", "dropped", "map[interface {}]interface {}", "ok", "silent", "error"},
		"cbor-nano":  {"equal", "exact", "dropped", "map[interface {}]interface {}", "ok", "silent", "error"},
		"gob":        {"equal", "exact", "dropped", "encode error: gob: type not registered for interface: bench.Seller", "ok", "error", "error"},
	}
	for _, c := range codecs {
		got := describe(c)
		t.Logf("%-10s %+v", c.id, got)
		if got != want[c.id] {
			t.Errorf("%s behaves differently from the study:\n got %+v\nwant %+v", c.id, got, want[c.id])
		}
	}
}
