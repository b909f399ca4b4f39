package httpcache

import "errors"

var (
	// ErrInvalidOptions wraps every configuration error of [New] and [Cache.PurgeHandler].
	ErrInvalidOptions = errors.New("httpcache: invalid options")
	// ErrCorruptEntry is what an entry's decoding returns for bytes that are not an entry. The
	// tiered cache turns it into a miss.
	ErrCorruptEntry = errors.New("httpcache: corrupt entry")
	// ErrUnsupported is returned by the purge handler for a tag or pattern purge when the tiered
	// cache cannot invalidate by tag or pattern.
	ErrUnsupported = errors.New("httpcache: invalidation by tag or pattern not supported by this cache")
)
