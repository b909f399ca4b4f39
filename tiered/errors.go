package tiered

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is what a loader returns when the value does not exist. With a strategy whose
	// NegativeTTL is set, the absence itself is cached and later reads return ErrNotFound without
	// calling the loader.
	ErrNotFound = errors.New("tiered: not found")
	// ErrInvalidOptions wraps every configuration error returned by [New].
	ErrInvalidOptions = errors.New("tiered: invalid options")
	// ErrInvalidStrategy wraps a strategy whose fields are out of range.
	ErrInvalidStrategy = errors.New("tiered: invalid strategy")
	// ErrLoaderPanic wraps the panic of a loader; see [PanicError].
	ErrLoaderPanic = errors.New("tiered: loader panicked")
	// ErrTypeMismatch is returned when a cached or loaded value cannot be given the requested type.
	ErrTypeMismatch = errors.New("tiered: value has a different type")
	// ErrTierUnavailable wraps a tier failure surfaced to a caller of a fail-closed cache.
	ErrTierUnavailable = errors.New("tiered: tier unavailable")
	// ErrCloseTimeout is returned by Close when background loads did not end within LoadTimeout
	// plus a second: a loader that ignores its context keeps running after Close returns.
	ErrCloseTimeout = errors.New("tiered: close timed out")
	// ErrClosed is returned by operations on a closed cache.
	ErrClosed = errors.New("tiered: cache closed")
	// ErrEmptyKey is returned for an empty key.
	ErrEmptyKey = errors.New("tiered: empty key")
	// ErrCorruptEntry describes an entry that could not be decoded. Readers never see it: a corrupt
	// entry is a miss. It is reported to the Logger and counted in Stats.
	ErrCorruptEntry = errors.New("tiered: corrupt entry")
)

// PanicError is the error every waiter of a load receives when its loader panicked. It matches
// [ErrLoaderPanic] with errors.Is.
type PanicError struct {
	// Value is what the loader passed to panic.
	Value any
	// Stack is the loader goroutine's stack at the time of the panic.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("tiered: loader panicked: %v", e.Value) }

// Is makes errors.Is(err, ErrLoaderPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrLoaderPanic }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}
