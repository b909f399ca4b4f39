package decorate

import "errors"

var (
	// ErrInvalidOptions wraps every configuration error of the constructors.
	ErrInvalidOptions = errors.New("decorate: invalid options")
	// ErrUnsupportedArg wraps the error of a constructor whose argument type cannot be encoded
	// into a key (maps, funcs, channels, interfaces, unsafe pointers, recursive types). Give such
	// wrappers a KeyFunc.
	ErrUnsupportedArg = errors.New("decorate: unsupported argument type")
	// ErrNilCache is returned by constructors given no cache.
	ErrNilCache = errors.New("decorate: nil cache")
	// ErrNilFunc is returned by constructors given no function to wrap.
	ErrNilFunc = errors.New("decorate: nil function")
)
