package grpccache

import "errors"

var (
	// ErrInvalidOptions wraps every configuration error returned by [NewServer] and [NewClient].
	ErrInvalidOptions = errors.New("grpccache: invalid options")
	// ErrInvalidPolicy wraps an out-of-range or inconsistent [Policy].
	ErrInvalidPolicy = errors.New("grpccache: invalid policy")
	// ErrCorruptEntry describes a stored response that could not be decoded. The cache treats such
	// an entry as a miss and deletes it; callers never see this error.
	ErrCorruptEntry = errors.New("grpccache: corrupt entry")
)
