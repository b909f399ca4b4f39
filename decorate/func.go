package decorate

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/stratacache/strata/tiered"
)

// Cached is a cached form of a func(context.Context, A) (T, error), built by [Func]. Its Call
// method has the wrapped function's signature, so f.Call can replace the function wherever it was
// used. It is safe for concurrent use.
type Cached[A, T any] struct {
	e   *engine[T]
	enc keyEncoder[A]
	fn  func(context.Context, A) (T, error)
}

// Func wraps fn so that its results are cached in c under keys made of o.Name and the argument.
//
// A must have a deterministic encoding (integers, floats, booleans, strings, byte slices,
// time.Time, and structs, arrays, slices and pointers of those) unless o.KeyFunc gives the key;
// other types are refused with an error wrapping [ErrUnsupportedArg]. Invalid options give an
// error wrapping [ErrInvalidOptions].
func Func[A, T any](c *tiered.Cache, fn func(context.Context, A) (T, error), o Options) (*Cached[A, T], error) {
	if fn == nil {
		return nil, ErrNilFunc
	}
	e, err := newEngine[T](c, &o)
	if err != nil {
		return nil, err
	}
	enc, err := newKeyEncoder[A](o.Name, o.KeyFunc)
	if err != nil {
		return nil, fmt.Errorf("%w (wrapper %q)", err, o.Name)
	}
	return &Cached[A, T]{e: e, enc: enc, fn: fn}, nil
}

// Call returns the cached result for a, or calls the wrapped function once (however many
// goroutines ask for a at the same time) and caches its result. A "not found" error of the source
// is returned as is, and cached when the strategy has a NegativeTTL; later calls answered by that
// cached miss return an error that errors.Is matches with every error of Options.NotFound (see
// there). Other errors are not cached.
//
// The returned value is shared with other callers and must not be mutated.
func (f *Cached[A, T]) Call(ctx context.Context, a A) (T, error) {
	var arr [keyStackSize]byte // the key of a hit never leaves the stack
	buf := append(arr[:0], f.enc.prefix...)
	if f.enc.int64 { // the common ID, without a call
		buf = append(strconv.AppendInt(append(buf, 'i'), *(*int64)(unsafe.Pointer(&a)), 10), ';', ')')
	} else {
		buf = append(f.enc.appendArg(buf, a), ')')
	}
	if v, negative, ok := tiered.Lookup[T](ctx, f.e.c, transient(buf)); ok {
		return f.e.hit(v, negative)
	}
	return f.slow(ctx, string(buf), a)
}

func (f *Cached[A, T]) slow(ctx context.Context, key string, a A) (T, error) {
	return f.e.load(ctx, key, func(ctx context.Context) (T, error) { return f.fn(ctx, a) })
}

// Key returns the cache key of the call with argument a.
func (f *Cached[A, T]) Key(a A) string { return f.enc.key(a) }

// Invalidate removes the cached results of the calls with the given arguments from every tier
// (and, when the cache has an invalidation bus, from the other instances).
func (f *Cached[A, T]) Invalidate(ctx context.Context, args ...A) error {
	if len(args) == 0 {
		return nil
	}
	keys := make([]string, len(args))
	for i, a := range args {
		keys[i] = f.enc.key(a)
	}
	return f.e.c.Invalidate(ctx, keys...)
}

// Cached0 is a cached form of a func(context.Context) (T, error), built by [Func0].
type Cached0[T any] struct {
	e   *engine[T]
	key string
	fn  func(context.Context) (T, error)
}

// Func0 wraps a function without arguments: its one result is cached under the key o.Name + "()".
// Options.KeyFunc does not apply.
func Func0[T any](c *tiered.Cache, fn func(context.Context) (T, error), o Options) (*Cached0[T], error) {
	if fn == nil {
		return nil, ErrNilFunc
	}
	if o.KeyFunc != nil {
		return nil, fmt.Errorf("%w: KeyFunc does not apply to Func0", ErrInvalidOptions)
	}
	e, err := newEngine[T](c, &o)
	if err != nil {
		return nil, err
	}
	return &Cached0[T]{e: e, key: o.Name + "()", fn: fn}, nil
}

// Call returns the cached result, or calls the wrapped function once; see [Cached.Call].
func (f *Cached0[T]) Call(ctx context.Context) (T, error) {
	if v, negative, ok := tiered.Lookup[T](ctx, f.e.c, f.key); ok {
		return f.e.hit(v, negative)
	}
	return f.e.load(ctx, f.key, f.fn)
}

// Key returns the cache key of the wrapper's result.
func (f *Cached0[T]) Key() string { return f.key }

// Invalidate removes the cached result from every tier (and from other instances with a bus).
func (f *Cached0[T]) Invalidate(ctx context.Context) error { return f.e.c.Invalidate(ctx, f.key) }

// Cached2 is a cached form of a func(context.Context, A, B) (T, error), built by [Func2].
type Cached2[A, B, T any] struct {
	e      *engine[T]
	prefix string
	a      keyEncoder[A]
	b      keyEncoder[B]
	custom func(A, B) string
	fn     func(context.Context, A, B) (T, error)
}

// Func2 wraps a function of two arguments; keys encode both (see [Func]). Options.KeyFunc, when
// set, must be a func(A, B) string.
func Func2[A, B, T any](c *tiered.Cache, fn func(context.Context, A, B) (T, error), o Options) (*Cached2[A, B, T], error) {
	if fn == nil {
		return nil, ErrNilFunc
	}
	e, err := newEngine[T](c, &o)
	if err != nil {
		return nil, err
	}
	f := &Cached2[A, B, T]{e: e, prefix: o.Name + "(", fn: fn}
	if o.KeyFunc != nil {
		kf, ok := o.KeyFunc.(func(A, B) string)
		if !ok {
			return nil, fmt.Errorf("%w: KeyFunc is a %T, want a func(%s, %s) string", ErrInvalidOptions, o.KeyFunc, reflect.TypeFor[A](), reflect.TypeFor[B]())
		}
		f.custom = kf
		return f, nil
	}
	if f.a, err = newKeyEncoder[A](o.Name, nil); err != nil {
		return nil, fmt.Errorf("%w (wrapper %q, first argument)", err, o.Name)
	}
	if f.b, err = newKeyEncoder[B](o.Name, nil); err != nil {
		return nil, fmt.Errorf("%w (wrapper %q, second argument)", err, o.Name)
	}
	return f, nil
}

func (f *Cached2[A, B, T]) appendKey(dst []byte, a A, b B) []byte {
	dst = append(dst, f.prefix...)
	if f.custom != nil {
		dst = append(dst, f.custom(a, b)...)
	} else {
		dst = append(f.a.appendArg(dst, a), ',')
		dst = f.b.appendArg(dst, b)
	}
	return append(dst, ')')
}

// Call returns the cached result for (a, b), or calls the wrapped function once; see
// [Cached.Call].
func (f *Cached2[A, B, T]) Call(ctx context.Context, a A, b B) (T, error) {
	var arr [keyStackSize]byte
	buf := f.appendKey(arr[:0], a, b)
	if v, negative, ok := tiered.Lookup[T](ctx, f.e.c, transient(buf)); ok {
		return f.e.hit(v, negative)
	}
	return f.slow(ctx, string(buf), a, b)
}

func (f *Cached2[A, B, T]) slow(ctx context.Context, key string, a A, b B) (T, error) {
	return f.e.load(ctx, key, func(ctx context.Context) (T, error) { return f.fn(ctx, a, b) })
}

// Key returns the cache key of the call with arguments (a, b).
func (f *Cached2[A, B, T]) Key(a A, b B) string { return string(f.appendKey(nil, a, b)) }

// Invalidate removes the cached result of the call with arguments (a, b) from every tier (and
// from other instances with a bus).
func (f *Cached2[A, B, T]) Invalidate(ctx context.Context, a A, b B) error {
	return f.e.c.Invalidate(ctx, f.Key(a, b))
}
