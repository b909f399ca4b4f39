package tiered

import (
	"encoding"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Every entry a byte tier stores carries the fingerprint of the Go type of its value and of the
// codec that encoded it, so that a reader of another type — another service, or a new version of
// this one whose struct changed — gets a miss instead of a value decoded into the wrong shape
// (most codecs ignore fields they do not know, which would turn a User into a zero-valued
// Product). The fingerprint hashes the codec's name (or "binary" for a type that encodes itself,
// see Codec) and a description of the type as codecs see it: its name and package, and for structs the exported fields with their names, types and
// tags, recursively. Pointers are transparent (a *T and a T are encoded alike), and so is a
// change to unexported fields.
//
// Changing a cached type's exported shape therefore changes its fingerprint: during a rolling
// deploy old and new instances read each other's entries as misses (counted in
// Stats.TypeMismatches), load from the source, and never delete or overwrite the other's shared
// entries (see Load). To keep both generations warm, give the new shape its own keys: a versioned
// Options.Namespace ("app:v2:") or decorate wrapper Name ("users.byID.v2").

// fingerprints caches what the cache needs to know of each type it encodes or decodes.
type fingerprints struct {
	codec string
	m     sync.Map // reflect.Type → typeInfo
}

// typeInfo is what fingerprints knows of a type.
type typeInfo struct {
	fp   uint64
	self bool // the type encodes itself (encoding.BinaryMarshaler and BinaryUnmarshaler)
}

// fpNil is the fingerprint of a nil value, which only readers of an interface type accept.
const fpNil = 1

var (
	binaryMarshaler   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// selfEncoding reports whether values of t encode themselves: t implements
// encoding.BinaryMarshaler, and t (a pointer type) or *t implements encoding.BinaryUnmarshaler.
func selfEncoding(t reflect.Type) bool {
	if !t.Implements(binaryMarshaler) {
		return false
	}
	if t.Kind() == reflect.Pointer {
		return t.Implements(binaryUnmarshaler)
	}
	return reflect.PointerTo(t).Implements(binaryUnmarshaler)
}

// info returns what is known of t; its fingerprint is never 0 or fpNil.
func (f *fingerprints) info(t reflect.Type) typeInfo {
	if v, ok := f.m.Load(t); ok {
		return v.(typeInfo)
	}
	ti := typeInfo{self: selfEncoding(t)}
	h := fnv.New64a()
	if ti.self {
		h.Write([]byte("binary"))
	} else {
		h.Write([]byte(f.codec))
	}
	h.Write([]byte{0})
	h.Write([]byte(describe(t)))
	ti.fp = h.Sum64()
	if ti.fp <= fpNil {
		ti.fp = fpNil + 1
	}
	f.m.Store(t, ti)
	return ti
}

// of returns t's fingerprint.
func (f *fingerprints) of(t reflect.Type) uint64 { return f.info(t).fp }

// ofValue returns the fingerprint of v's dynamic type.
func (f *fingerprints) ofValue(v any) uint64 {
	if v == nil {
		return fpNil
	}
	return f.of(reflect.TypeOf(v))
}

// describe returns a canonical description of t as a codec sees it.
func describe(t reflect.Type) string {
	var b strings.Builder
	describeInto(&b, t, map[reflect.Type]bool{})
	return b.String()
}

func describeInto(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" {
		b.WriteString(t.PkgPath())
		b.WriteByte('.')
		b.WriteString(t.Name())
		if seen[t] {
			return
		}
		seen[t] = true
		b.WriteByte('=')
	}
	switch t.Kind() {
	case reflect.Struct:
		b.WriteString("struct{")
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			b.WriteString(f.Name)
			b.WriteByte(' ')
			describeInto(b, f.Type, seen)
			if f.Tag != "" {
				b.WriteByte(' ')
				b.WriteString(strconv.Quote(string(f.Tag)))
			}
			b.WriteByte(';')
		}
		b.WriteByte('}')
	case reflect.Slice:
		b.WriteString("[]")
		describeInto(b, t.Elem(), seen)
	case reflect.Array:
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(t.Len()))
		b.WriteByte(']')
		describeInto(b, t.Elem(), seen)
	case reflect.Map:
		b.WriteString("map[")
		describeInto(b, t.Key(), seen)
		b.WriteByte(']')
		describeInto(b, t.Elem(), seen)
	default:
		b.WriteString(t.Kind().String())
	}
}
