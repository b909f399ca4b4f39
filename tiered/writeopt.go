package tiered

import "fmt"

// WriteOption adjusts one write: Set, Update, SetMany, or the store that follows a load.
type WriteOption func(*writeConfig)

type writeConfig struct {
	tags  []string
	lease *leaseHold // the hold of the load whose store this is, or nil
}

// Tags attaches tags to the entry, so that InvalidateTags can remove it together with every other
// entry carrying one of them. A tag must not be empty.
func Tags(tags ...string) WriteOption {
	return func(w *writeConfig) { w.tags = append(w.tags, tags...) }
}

// writeOptions applies opts and checks the result: it returns an error wrapping
// ErrInvalidOptions for an empty tag.
func writeOptions(opts []WriteOption) (writeConfig, error) {
	if len(opts) == 0 {
		return writeConfig{}, nil // the common case, without the allocation of w below
	}
	var w writeConfig
	for _, o := range opts {
		if o != nil {
			o(&w)
		}
	}
	for _, t := range w.tags {
		if t == "" {
			return w, fmt.Errorf("%w: empty tag", ErrInvalidOptions)
		}
	}
	return w, nil
}
