package ottertier

import "github.com/stratacache/strata/internal/glob"

// DeletePattern removes every key matching the Redis-style glob pattern (see the tiered package's
// InvalidatePattern for the syntax) and returns how many it removed. It walks every key, so it
// costs time proportional to the number of entries.
func (b *Backend) DeletePattern(pattern string) int {
	n := 0
	for k := range b.c.Keys() {
		if glob.Match(pattern, k) {
			if _, ok := b.c.Invalidate(k); ok {
				n++
			}
		}
	}
	return n
}
