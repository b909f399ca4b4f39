package decorate

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Keys are Name, "(", the encoded arguments separated by ",", and ")". Name holds no "(", so the
// name ends at the first one. Each argument's encoding is self-delimiting and tagged with its
// kind, so different argument values always give different keys:
//
//	integers   i<decimal>;   unsigned u<decimal>;   floats f<shortest round-trip form>;
//	complex    c<real>;<imaginary>;   bool b1 / b0
//	string     s<byte length>:<bytes>   []byte x<byte length>:<bytes>
//	time.Time  T<RFC 3339 in UTC, nanoseconds>;
//	struct     {<fields in declaration order>}   array [<elements>]
//	slice      [<length>:<elements>]   pointer n (nil) or *<element>
//
// For example Func with Name "users.byID" called with int64(42) uses the key "users.byID(i42;)".
// The encoding reads the argument's memory through a plan built once per type, without reflection
// at call time and without allocating.

// opKind is what one step of a plan encodes.
type opKind uint8

const (
	opInt opKind = iota + 1 // size in op.size
	opUint
	opFloat32
	opFloat64
	opComplex64
	opComplex128
	opBool
	opString
	opBytes
	opTime
	opStruct
	opArray
	opSlice
	opPtr
)

// op encodes one value at offset off of the value being encoded.
type op struct {
	kind opKind
	off  uintptr
	size uintptr // integer width, or element size for arrays and slices
	n    int     // array length
	sub  []op    // struct fields, or the element's single op
}

var timeType = reflect.TypeFor[time.Time]()

// planFor builds the plan of t, or an error wrapping ErrUnsupportedArg.
func planFor(t reflect.Type) (op, error) {
	return compile(t, 0, map[reflect.Type]bool{})
}

func compile(t reflect.Type, off uintptr, visiting map[reflect.Type]bool) (op, error) {
	o := op{off: off}
	if t == timeType {
		o.kind = opTime
		return o, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		o.kind, o.size = opInt, t.Size()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		o.kind, o.size = opUint, t.Size()
	case reflect.Float32:
		o.kind = opFloat32
	case reflect.Float64:
		o.kind = opFloat64
	case reflect.Complex64:
		o.kind = opComplex64
	case reflect.Complex128:
		o.kind = opComplex128
	case reflect.Bool:
		o.kind = opBool
	case reflect.String:
		o.kind = opString
	case reflect.Struct:
		if visiting[t] {
			return o, fmt.Errorf("%w: %s is recursive", ErrUnsupportedArg, t)
		}
		visiting[t] = true
		defer delete(visiting, t)
		o.kind = opStruct
		for i := range t.NumField() {
			f := t.Field(i)
			fo, err := compile(f.Type, f.Offset, visiting)
			if err != nil {
				return o, fmt.Errorf("%w (field %s of %s)", err, f.Name, t)
			}
			o.sub = append(o.sub, fo)
		}
	case reflect.Array:
		e, err := compile(t.Elem(), 0, visiting)
		if err != nil {
			return o, err
		}
		o.kind, o.n, o.size, o.sub = opArray, t.Len(), t.Elem().Size(), []op{e}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			o.kind = opBytes
			return o, nil
		}
		if visiting[t] {
			return o, fmt.Errorf("%w: %s is recursive", ErrUnsupportedArg, t)
		}
		visiting[t] = true
		defer delete(visiting, t)
		e, err := compile(t.Elem(), 0, visiting)
		if err != nil {
			return o, err
		}
		o.kind, o.size, o.sub = opSlice, t.Elem().Size(), []op{e}
	case reflect.Pointer:
		if visiting[t] {
			return o, fmt.Errorf("%w: %s is recursive", ErrUnsupportedArg, t)
		}
		visiting[t] = true
		defer delete(visiting, t)
		e, err := compile(t.Elem(), 0, visiting)
		if err != nil {
			return o, err
		}
		o.kind, o.sub = opPtr, []op{e}
	default:
		return o, fmt.Errorf("%w: %s (kind %s) has no deterministic encoding; give the wrapper a KeyFunc", ErrUnsupportedArg, t, t.Kind())
	}
	return o, nil
}

// appendOp appends the encoding of the value at p+o.off. p points to memory of the type o was
// compiled from.
func appendOp(dst []byte, p unsafe.Pointer, o *op) []byte {
	p = unsafe.Add(p, o.off)
	switch o.kind {
	case opInt:
		var v int64
		switch o.size {
		case 1:
			v = int64(*(*int8)(p))
		case 2:
			v = int64(*(*int16)(p))
		case 4:
			v = int64(*(*int32)(p))
		default:
			v = *(*int64)(p)
		}
		dst = append(dst, 'i')
		return append(strconv.AppendInt(dst, v, 10), ';')
	case opUint:
		var v uint64
		switch o.size {
		case 1:
			v = uint64(*(*uint8)(p))
		case 2:
			v = uint64(*(*uint16)(p))
		case 4:
			v = uint64(*(*uint32)(p))
		default:
			v = *(*uint64)(p)
		}
		dst = append(dst, 'u')
		return append(strconv.AppendUint(dst, v, 10), ';')
	case opFloat32:
		return appendFloat(append(dst, 'f'), float64(*(*float32)(p)), 32)
	case opFloat64:
		return appendFloat(append(dst, 'f'), *(*float64)(p), 64)
	case opComplex64:
		v := *(*complex64)(p)
		return appendFloat(appendFloat(append(dst, 'c'), float64(real(v)), 32), float64(imag(v)), 32)
	case opComplex128:
		v := *(*complex128)(p)
		return appendFloat(appendFloat(append(dst, 'c'), real(v), 64), imag(v), 64)
	case opBool:
		if *(*bool)(p) {
			return append(dst, 'b', '1')
		}
		return append(dst, 'b', '0')
	case opString:
		s := *(*string)(p)
		dst = append(dst, 's')
		dst = append(strconv.AppendInt(dst, int64(len(s)), 10), ':')
		return append(dst, s...)
	case opBytes:
		b := *(*[]byte)(p)
		dst = append(dst, 'x')
		dst = append(strconv.AppendInt(dst, int64(len(b)), 10), ':')
		return append(dst, b...)
	case opTime:
		t := *(*time.Time)(p)
		dst = append(dst, 'T')
		return append(t.UTC().AppendFormat(dst, time.RFC3339Nano), ';')
	case opStruct:
		dst = append(dst, '{')
		for i := range o.sub {
			dst = appendOp(dst, p, &o.sub[i])
		}
		return append(dst, '}')
	case opArray:
		dst = append(dst, '[')
		for i := range o.n {
			dst = appendOp(dst, unsafe.Add(p, uintptr(i)*o.size), &o.sub[0])
		}
		return append(dst, ']')
	case opSlice:
		h := (*sliceHeader)(p)
		dst = append(dst, '[')
		dst = append(strconv.AppendInt(dst, int64(h.len), 10), ':')
		for i := range h.len {
			dst = appendOp(dst, unsafe.Add(h.data, uintptr(i)*o.size), &o.sub[0])
		}
		return append(dst, ']')
	case opPtr:
		e := *(*unsafe.Pointer)(p)
		if e == nil {
			return append(dst, 'n')
		}
		return appendOp(append(dst, '*'), e, &o.sub[0])
	}
	return dst // unreachable: plans are built by compile
}

// sliceHeader is the layout of a slice value.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) {
		return append(dst, "NaN;"...)
	}
	return append(strconv.AppendFloat(dst, f, 'g', -1, bits), ';')
}

// keyEncoder derives keys for arguments of type A: Name( encoded-or-KeyFunc ).
type keyEncoder[A any] struct {
	prefix string // Name + "("
	plan   op
	custom func(A) string
	int64  bool // A is a 64-bit signed integer (int64, int on 64-bit platforms, or a named one)
}

func newKeyEncoder[A any](name string, keyFunc any) (keyEncoder[A], error) {
	e := keyEncoder[A]{prefix: name + "("}
	if keyFunc != nil {
		f, ok := keyFunc.(func(A) string)
		if !ok {
			return e, fmt.Errorf("%w: KeyFunc is a %T, want a func(%s) string", ErrInvalidOptions, keyFunc, reflect.TypeFor[A]())
		}
		e.custom = f
		return e, nil
	}
	p, err := planFor(reflect.TypeFor[A]())
	if err != nil {
		return e, err
	}
	e.plan = p
	e.int64 = p.kind == opInt && p.size == 8
	return e, nil
}

// appendArg appends a's encoding (without prefix or closing parenthesis).
func (e *keyEncoder[A]) appendArg(dst []byte, a A) []byte {
	if e.int64 {
		dst = strconv.AppendInt(append(dst, 'i'), *(*int64)(unsafe.Pointer(&a)), 10)
		return append(dst, ';')
	}
	if e.custom != nil {
		return append(dst, e.custom(a)...)
	}
	return appendOp(dst, unsafe.Pointer(&a), &e.plan)
}

// key returns the full key for a.
func (e *keyEncoder[A]) key(a A) string {
	b := keyBufs.Get().(*[]byte)
	buf := append((*b)[:0], e.prefix...)
	buf = append(e.appendArg(buf, a), ')')
	k := string(buf)
	*b = buf
	putBuf(b)
	return k
}

// keyStackSize is the size of the buffer on the stack that a call encodes its key into; longer
// keys spill to the heap.
const keyStackSize = 64

// keyBufs recycles the buffers keys are encoded into.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// putBuf returns b to the pool unless it grew unusually large.
func putBuf(b *[]byte) {
	if cap(*b) <= 4<<10 {
		keyBufs.Put(b)
	}
}

// transient views b as a string without copying. The string must not outlive the next change of
// b: it is only passed to tiered.Lookup, which does not keep it.
func transient(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
