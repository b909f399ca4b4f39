package httpcache

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func sampleEntry() *entry {
	e := &entry{
		key:       "http:https://example.com/a?b=c",
		varyNames: []string{"Accept", "Accept-Language"},
		varyVals:  "\x01\x03a/b\x00",
		status:    203,
		header:    http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=60"}, "X-Multi": {"a", "b"}},
		body:      []byte("hello"),
		reqTime:   time.Now().Add(-time.Second).UnixNano(),
		respTime:  time.Now().UnixNano(),
		defTTL:    int64(time.Minute),
	}
	e.derive()
	return e
}

func TestCodecRoundTrip(t *testing.T) {
	for _, e := range []*entry{
		sampleEntry(),
		{key: "k", marker: true, varyNames: []string{"Accept"}, variants: []string{"k|v=1", "k|v=2"}, expiresAt: 42, header: http.Header{}},
	} {
		data, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back := new(entry)
		if err := back.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		e.derive()
		if !reflect.DeepEqual(e, back) {
			t.Fatalf("round trip:\n%+v\n%+v", e, back)
		}
	}
}

func TestCodecRejectsDamage(t *testing.T) {
	data, _ := sampleEntry().MarshalBinary()
	for i := range data {
		for _, cut := range [][]byte{data[:i], append(append([]byte{}, data[:i]...), 0xff)} {
			err := new(entry).UnmarshalBinary(cut)
			if err == nil && i < len(data) {
				if cut[len(cut)-1] != 0xff {
					t.Fatalf("truncation at %d accepted", i)
				}
				continue
			}
			if err != nil && !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not wrap ErrCorruptEntry", err)
			}
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	data, _ := sampleEntry().MarshalBinary()
	f.Add(data)
	marker, _ := (&entry{key: "k", marker: true, varyNames: []string{"A"}, variants: []string{"v"}}).MarshalBinary()
	f.Add(marker)
	f.Add([]byte{entryMagic, entryVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		again := appendEntry(nil, e)
		e2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !bytes.Equal(appendEntry(nil, e2), again) {
			t.Fatal("encoding is not stable")
		}
	})
}
