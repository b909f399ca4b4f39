package tiered

// WriteOption adjusts one write: Set, or the store that follows a load.
type WriteOption func(*writeConfig)

type writeConfig struct {
	tags []string
}

// Tags attaches tags to the entry, so that InvalidateTags can remove it together with every other
// entry carrying one of them.
func Tags(tags ...string) WriteOption {
	return func(w *writeConfig) { w.tags = append(w.tags, tags...) }
}

func writeOptions(opts []WriteOption) writeConfig {
	var w writeConfig
	for _, o := range opts {
		if o != nil {
			o(&w)
		}
	}
	return w
}
