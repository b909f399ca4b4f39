package httpcache

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// MarshalBinary encodes e in the compact binary form: entries encode themselves, so any tiered
// cache holds them whatever its codec.
func (e *entry) MarshalBinary() ([]byte, error) { return appendEntry(nil, e), nil }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (e *entry) UnmarshalBinary(data []byte) error {
	d, err := decodeEntry(data)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}

const (
	entryMagic   = 0xB7
	entryVersion = 1
	flagMarker   = 1
)

func appendEntry(b []byte, e *entry) []byte {
	size := 64 + len(e.key) + len(e.varyVals) + len(e.body)
	for k, vs := range e.header {
		size += len(k) + 4
		for _, v := range vs {
			size += len(v) + 2
		}
	}
	for _, v := range e.variants {
		size += len(v) + 2
	}
	if b == nil {
		b = make([]byte, 0, size)
	}
	var flags byte
	if e.marker {
		flags |= flagMarker
	}
	b = append(b, entryMagic, entryVersion, flags)
	b = appendString(b, e.key)
	b = binary.AppendUvarint(b, uint64(len(e.varyNames)))
	for _, n := range e.varyNames {
		b = appendString(b, n)
	}
	b = appendString(b, e.varyVals)
	b = binary.AppendUvarint(b, uint64(len(e.variants)))
	for _, v := range e.variants {
		b = appendString(b, v)
	}
	b = binary.AppendVarint(b, e.expiresAt)
	b = binary.AppendUvarint(b, uint64(e.status))
	b = binary.AppendVarint(b, e.reqTime)
	b = binary.AppendVarint(b, e.respTime)
	b = binary.AppendVarint(b, e.defTTL)
	b = binary.AppendVarint(b, e.defStale)
	b = appendString(b, e.ccField)
	// Headers in name order, so that equal entries encode to equal bytes.
	fields := e.fields
	if len(fields) != len(e.header) {
		fields = make([]field, 0, len(e.header))
		for k, vs := range e.header {
			fields = append(fields, field{k, vs})
		}
		slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	}
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = appendString(b, f.name)
		b = binary.AppendUvarint(b, uint64(len(f.values)))
		for _, v := range f.values {
			b = appendString(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.body)))
	return append(b, e.body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the binary form; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorruptEntry, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

// count reads a element count and checks it against the bytes left (every element takes at
// least one byte), so a hostile count cannot make the decoder allocate.
func (d *decoder) count(what string) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail(what)
		return 0
	}
	return int(n)
}

// decodeEntry parses the binary form. It never panics; anything malformed is ErrCorruptEntry.
func decodeEntry(data []byte) (*entry, error) {
	if len(data) < 3 || data[0] != entryMagic || data[1] != entryVersion {
		return nil, fmt.Errorf("%w: unknown format", ErrCorruptEntry)
	}
	e := &entry{marker: data[2]&flagMarker != 0}
	d := decoder{b: data[3:]}
	e.key = d.string("key")
	if n := d.count("vary count"); n > 0 {
		e.varyNames = make([]string, n)
		for i := range e.varyNames {
			e.varyNames[i] = d.string("vary name")
		}
	}
	e.varyVals = d.string("vary values")
	if n := d.count("variant count"); n > 0 {
		e.variants = make([]string, n)
		for i := range e.variants {
			e.variants[i] = d.string("variant")
		}
	}
	e.expiresAt = d.varint("expiry")
	status := d.uvarint("status")
	e.reqTime = d.varint("request time")
	e.respTime = d.varint("response time")
	e.defTTL = d.varint("default ttl")
	e.defStale = d.varint("default stale")
	e.ccField = d.string("policy field")
	if n := d.count("header count"); n > 0 {
		e.header = make(http.Header, n)
		for range n {
			k := d.string("header name")
			c := d.count("header value count")
			if d.err != nil {
				break
			}
			vs := make([]string, c)
			for j := range vs {
				vs[j] = d.string("header value")
			}
			e.header[k] = vs
		}
	}
	e.body = d.bytes("body")
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrCorruptEntry)
	}
	if !e.marker && (status < 200 || status > 599) {
		return nil, fmt.Errorf("%w: status %d", ErrCorruptEntry, status)
	}
	if e.key == "" || e.defTTL < 0 || e.defStale < 0 {
		return nil, fmt.Errorf("%w: bad fields", ErrCorruptEntry)
	}
	e.status = int(status)
	if e.header == nil {
		e.header = http.Header{}
	}
	e.derive()
	return e, nil
}
