package decorate

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/stratacache/strata/tiered"
)

// Options configures a wrapper. Only Name is required; every other zero field has a sensible
// default.
type Options struct {
	// Name identifies the wrapper and starts every key it derives, so that two wrappers with
	// different names never share an entry. Required: valid UTF-8 without control characters or
	// "(". Use a stable name such as "users.byID": entries written under it are found again by
	// other processes and after restarts. Change it when the cached type changes incompatibly.
	Name string
	// Strategy is the whole freshness policy of the entries (the zero Strategy means the cache's
	// default): TTL and jitter, refresh-ahead, serve-stale-while-refresh, stale-if-error and the
	// NegativeTTL that decides whether "not found" results are cached. The cache applies it, as
	// for every other caller; see tiered.Strategy.
	Strategy tiered.Strategy
	// NotFound lists the errors that mean "no such value" (matched with errors.Is). Nil means
	// []error{sql.ErrNoRows}, which also matches pgx.ErrNoRows (it wraps sql.ErrNoRows) and
	// tiered.ErrNotFound is always recognised.
	//
	// A cached "not found" does not record which error the source returned, so a call answered by
	// one returns an error that stands for all of them, in every process: errors.Is holds with every
	// error of the list, with what they wrap, and with every error the wrapper recognises as "not
	// found" — so a check written against the first call's error, such as
	// errors.Is(err, pgx.ErrNoRows) with the default list, holds for the cached answer too. Its
	// message is the first listed error's. errors.As to a typed error of the source does not
	// work on it: the value is gone.
	NotFound []error
	// IsNotFound recognises more "not found" errors, such as a typed error of the source.
	IsNotFound func(error) bool
	// KeyFunc replaces the encoding of the arguments. Its type must match the wrapper:
	// func(A) string for [Func], func(A, B) string for [Func2], func(ID) string for [Batch]. The
	// key it returns is still prefixed by Name.
	KeyFunc any
}

func (o *Options) validate(c *tiered.Cache) error {
	if c == nil {
		return ErrNilCache
	}
	switch {
	case o.Name == "":
		return fmt.Errorf("%w: Name is required", ErrInvalidOptions)
	case !utf8.ValidString(o.Name) || strings.ContainsFunc(o.Name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '(' }):
		return fmt.Errorf("%w: Name %q must be valid UTF-8 without control characters or \"(\"", ErrInvalidOptions, o.Name)
	}
	for i, e := range o.NotFound {
		if e == nil {
			return fmt.Errorf("%w: NotFound[%d] is nil", ErrInvalidOptions, i)
		}
	}
	if err := o.Strategy.Validate(); err != nil {
		return fmt.Errorf("%w: Strategy: %w", ErrInvalidOptions, err)
	}
	return nil
}

// defaultNotFound is Options.NotFound when nil.
var defaultNotFound = []error{sql.ErrNoRows}

// cachedNotFound is the error of a read answered by a cached "not found". The cache does not
// record which error the source returned, so it stands for all of them: it wraps every error of
// the wrapper's NotFound list (errors.Is holds with each, and with what they wrap), and errors.Is
// also holds with any error the wrapper itself recognises as "not found" — such as pgx.ErrNoRows,
// which wraps sql.ErrNoRows, or an error IsNotFound accepts. So the check a caller wrote against
// the error of the first call (errors.Is(err, pgx.ErrNoRows) in a 404 handler) still holds when
// the answer comes from the cache, in every process. Its message is the first listed error's.
type cachedNotFound struct {
	list      []error
	recognise func(error) bool
}

func (e *cachedNotFound) Error() string {
	if len(e.list) == 0 {
		return tiered.ErrNotFound.Error()
	}
	return e.list[0].Error()
}

func (e *cachedNotFound) Unwrap() []error {
	return append(e.list[:len(e.list):len(e.list)], tiered.ErrNotFound)
}

// Is reports whether target is a "not found" error of the wrapper.
func (e *cachedNotFound) Is(target error) bool { return target != nil && e.recognise(target) }

// notFoundError carries a source's "not found" error through the cache's load, which recognises
// it as tiered.ErrNotFound (and caches it as a miss) while the wrapper returns the original.
type notFoundError struct{ err error }

func (e *notFoundError) Error() string        { return e.err.Error() }
func (e *notFoundError) Unwrap() error        { return e.err }
func (e *notFoundError) Is(target error) bool { return target == tiered.ErrNotFound }

// unwrapNotFound returns the source's own error for errors that went through a load.
func unwrapNotFound(err error) error {
	var nf *notFoundError
	if errors.As(err, &nf) {
		return nf.err
	}
	return err
}
