package tiered

import "context"

// Invalidate removes the keys from every tier of this cache. It is the entry point for removals
// that other instances must also see.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	return c.Delete(ctx, keys...)
}
