package tiered

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/stratacache/strata/internal/glob"
)

// maxBroadcastKeys is the most keys a tag invalidation sends; beyond it the others clear their
// in-process tiers.
const maxBroadcastKeys = 10_000

// ErrEmptyPattern is returned by InvalidatePattern for an empty pattern.
var ErrEmptyPattern = errors.New("tiered: empty pattern")

// ErrUnsupported wraps an operation that a tier's backend cannot perform (a byte tier without
// pattern delete, say).
var ErrUnsupported = errors.New("tiered: operation not supported by the tier")

// ErrNoNamespace is returned by InvalidateAll on a cache with byte tiers and no Namespace: it
// would otherwise remove every key of the shared store.
var ErrNoNamespace = errors.New("tiered: InvalidateAll needs a Namespace")

// Invalidate removes the keys from every tier of this cache and, with a bus (Options.Bus), from
// the in-process tiers of every other instance. A failed delete or broadcast is returned (joined),
// since it may leave an old value behind.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	if err := c.checkKeys(keys); err != nil || len(keys) == 0 {
		return err
	}
	return c.observeWrite(ctx, OpInvalidate, oneKey(keys), func(ctx context.Context) error {
		c.inv.local.Add(1)
		err := c.deleteLocal(ctx, keys, true)
		return errors.Join(err, c.broadcast(ctx, &busMessage{kind: kindKeys, keys: keys}))
	})
}

// Update writes value to every tier, like Set, and sends it to the other instances (with a bus),
// which replace their in-process copy so that their next read neither misses nor serves the old
// value. The seed's update_cache.
//
// A receiver that holds the key in an in-process tier decodes the new value into the Go type of
// the value it holds; one that does not hold it (or cannot decode it) simply drops the key, and
// its next read finds the new value in the shared tiers. A value that cannot be encoded, or whose
// encoding is larger than BusOptions.MaxUpdateSize, is sent as an invalidation instead. Tags given
// in opts travel with the value.
func (c *Cache) Update(ctx context.Context, key string, value any, s Strategy, opts ...WriteOption) error {
	if err := c.check(key); err != nil {
		return err
	}
	c.gens.bump(key)
	s, err := c.strategy(s)
	if err != nil {
		return err
	}
	return c.observeWrite(ctx, OpUpdate, key, func(ctx context.Context) error {
		c.inv.local.Add(1)
		c.ctr.sets.Add(1)
		w := writeOptions(opts)
		lt := s.lifetime(false)
		now := time.Now().UnixNano()
		payload, flags, encoded, err := c.storeLifetime(ctx, key, value, lt, false, w)
		if c.bus != nil {
			var m *busMessage
			if !encoded && err == nil && lt.fresh > 0 {
				// No byte tier encoded it. A value the codec cannot encode is still fine in L1 (as
				// with Set); the others then get an invalidation.
				var encErr error
				payload, flags, encErr = c.encode(value)
				encoded = encErr == nil
			}
			if encoded && lt.fresh > 0 && len(payload) <= c.bus.maxUpdate {
				m = &busMessage{kind: kindUpdate, key: key, tags: w.tags, entry: envelope{
					flags: flags, created: now, staleAt: now + lt.fresh, expiresAt: now + lt.fresh + lt.stale, payload: payload,
				}}
			} else {
				m = &busMessage{kind: kindKeys, keys: []string{key}}
			}
			err = errors.Join(err, c.bus.publish(ctx, m))
		}
		return err
	})
}

// SetWithBroadcast is Update under the seed's other name: write every tier and send the value to
// the other instances.
func (c *Cache) SetWithBroadcast(ctx context.Context, key string, value any, s Strategy, opts ...WriteOption) error {
	return c.Update(ctx, key, value, s, opts...)
}

// InvalidatePattern removes every key matching the Redis glob pattern from every tier, and with a
// bus from the in-process tiers of every other instance.
//
// The syntax is Redis's, on every tier: "*" any sequence, "?" one byte, "[abc]", "[^abc]",
// "[a-z]" one byte of (or not of) a set, "\" escapes the next byte. The pattern applies to keys as
// the caller names them: byte tiers prefix it with the (escaped) Namespace, so it never reaches
// keys of another namespace. Redis tiers walk the keyspace with SCAN on every master and delete
// with UNLINK in batches; in-process tiers walk their keys. Both cost time proportional to the
// number of keys, so prefer Invalidate or InvalidateTags for hot paths. Byte-tier work runs under
// Options.LoadTimeout (or the tier's Timeout, if longer) rather than the tier's Timeout.
func (c *Cache) InvalidatePattern(ctx context.Context, pattern string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if pattern == "" {
		return ErrEmptyPattern
	}
	return c.observeWrite(ctx, OpInvalidate, "", func(ctx context.Context) error {
		c.inv.local.Add(1)
		var errs []error
		full := glob.Escape(c.namespace) + pattern
		errs = append(errs, c.deleteRemotePattern(ctx, full)...)
		c.deleteValuePattern(pattern)
		errs = append(errs, c.broadcast(ctx, &busMessage{kind: kindPattern, pattern: pattern}))
		return errors.Join(errs...)
	})
}

// InvalidateTags removes every entry written with one of the tags (see [Tags]) from every tier,
// and with a bus from the in-process tiers of every other instance. See [Options.MaxTagEntries]
// for how the tag indexes are kept bounded. The other instances receive the tags and the keys
// found under them; beyond 10,000 keys they are told to clear their in-process tiers instead.
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(tags) == 0 {
		return nil
	}
	return c.observeWrite(ctx, OpInvalidate, "", func(ctx context.Context) error {
		c.inv.local.Add(1)
		keys := c.tags.take(tags)
		var errs []error
		for _, t := range c.tiers {
			ti, ok := t.bb.(TagIndexer)
			if !ok {
				continue
			}
			var found []string
			_, _, err := c.callTierWithin(ctx, t, CallDelete, c.bulkTimeout(t), func(ctx context.Context) ([]byte, bool, error) {
				var err error
				found, err = ti.TakeTagged(ctx, c.tagKeys(tags))
				return nil, false, err
			})
			if err != nil {
				errs = append(errs, tierErr(t, err))
				continue
			}
			for _, k := range found {
				if k, ok := strings.CutPrefix(k, c.namespace); ok && k != "" {
					keys = append(keys, k)
				}
			}
		}
		keys = dedupe(keys)
		if len(keys) > 0 {
			errs = append(errs, c.deleteLocal(ctx, keys, true))
		}
		m := &busMessage{kind: kindTags, tags: tags, keys: keys}
		if len(keys) > maxBroadcastKeys {
			// Cheaper for everyone than a huge message: the others empty their in-process tiers.
			m = &busMessage{kind: kindClear}
		}
		errs = append(errs, c.broadcast(ctx, m))
		return errors.Join(errs...)
	})
}

// InvalidateAll removes every entry of the cache's namespace from every tier (byte tiers by
// pattern, as InvalidatePattern(ctx, "*")) and with a bus clears the in-process tiers of every
// other instance. With byte tiers it requires a Namespace and otherwise returns [ErrNoNamespace]
// without touching anything: it never empties a shared Redis (and never uses FLUSHDB).
func (c *Cache) InvalidateAll(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.hasBytes && c.namespace == "" {
		return ErrNoNamespace
	}
	return c.observeWrite(ctx, OpInvalidate, "", func(ctx context.Context) error {
		c.inv.local.Add(1)
		var errs []error
		full := glob.Escape(c.namespace) + "*"
		errs = append(errs, c.deleteRemotePattern(ctx, full)...)
		c.clearValueTiers(ctx)
		errs = append(errs, c.broadcast(ctx, &busMessage{kind: kindClear}))
		return errors.Join(errs...)
	})
}

// deleteRemotePattern deletes the keys matching full (a pattern that already carries the escaped
// namespace) from every byte tier, and returns the tiers' errors.
func (c *Cache) deleteRemotePattern(ctx context.Context, full string) []error {
	var errs []error
	for _, t := range c.tiers {
		if t.bb == nil {
			continue
		}
		pd, ok := t.bb.(PatternDeleter)
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s (L%d) cannot delete by pattern", ErrUnsupported, t.name, t.level+1))
			continue
		}
		_, _, err := c.callTierWithin(ctx, t, CallDelete, c.bulkTimeout(t), func(ctx context.Context) ([]byte, bool, error) {
			_, err := pd.DeletePattern(ctx, full)
			return nil, false, err
		})
		if err != nil {
			errs = append(errs, tierErr(t, err))
		}
	}
	return errs
}

// broadcast publishes m when the cache has a bus.
func (c *Cache) broadcast(ctx context.Context, m *busMessage) error {
	if c.bus == nil {
		return nil
	}
	return c.bus.publish(ctx, m)
}

// bulkTimeout is the budget of a byte-tier call that walks many keys.
func (c *Cache) bulkTimeout(t *tier) time.Duration { return max(t.timeout, c.loadTimeout) }

// apply carries out another instance's message on the in-process tiers. It returns the second
// pass to run RecheckAfter later (see BusOptions.RecheckAfter).
func (c *Cache) apply(ctx context.Context, m *busMessage) (rc recheck, err error) {
	switch m.kind {
	case kindKeys:
		rc.keys = m.keys
		err = c.deleteLocal(ctx, m.keys, false)
	case kindUpdate:
		err = c.applyUpdate(m)
		rc.key = m.key
		rc.items = make([]any, len(c.tiers))
		for i, t := range c.tiers {
			if t.vb != nil {
				rc.items[i], _ = t.vb.Get(m.key)
			}
		}
	case kindPattern:
		rc.pattern = m.pattern
		c.deleteValuePattern(m.pattern)
	case kindTags:
		rc.keys = append(c.tags.take(m.tags), m.keys...)
		if len(rc.keys) > 0 {
			err = c.deleteLocal(ctx, rc.keys, false)
		}
	case kindClear:
		c.clearValueTiers(ctx)
	}
	return rc, err
}

// recheck is the second pass of an applied message: the in-process copies of its keys are
// removed again, unless (for an update) they are still the very entry the update stored. It
// catches a read on this instance that fetched the old value from a shared tier before the change
// and stored it in L1 after the message had been applied.
type recheck struct {
	at      time.Time
	keys    []string // removed again
	pattern string   // removed again by pattern
	key     string   // an updated key ...
	items   []any    // ... and what each tier held right after the update (nil: nothing)
	seq     uint64   // the update's number, to skip the passes of updates superseded since
}

func (rc *recheck) empty() bool { return rc.keys == nil && rc.pattern == "" && rc.key == "" }

// run performs the second pass.
func (rc *recheck) run(c *Cache) {
	if len(rc.keys) > 0 {
		c.deleteValues(rc.keys...)
	}
	if rc.pattern != "" {
		c.deleteValuePattern(rc.pattern)
	}
	if rc.key != "" {
		if latest := c.bus.updates[rc.key]; latest != rc.seq {
			return // a later update of the key stored a newer entry and has its own pass
		}
		delete(c.bus.updates, rc.key)
		for i, t := range c.tiers {
			if t.vb == nil {
				continue
			}
			if cur, ok := t.vb.Get(rc.key); ok && cur != rc.items[i] {
				t.vb.Delete(rc.key)
			}
		}
	}
}

// applyUpdate replaces the in-process copy of an updated key. The new value is decoded into the
// Go type of the value it replaces (a receiver cannot know the sender's type otherwise); a key not
// held, held as "not found", or whose new value does not decode into that type is dropped.
func (c *Cache) applyUpdate(m *busMessage) error {
	c.gens.bump(m.key)
	env := &m.entry
	payload := env.payload
	if env.flags&flagCompressed != 0 {
		var err error
		if payload, err = decompress(payload); err != nil {
			c.deleteValues(m.key)
			return fmt.Errorf("update of a key: %w", err)
		}
	}
	now := time.Now().UnixNano()
	fresh, stale := env.staleAt-env.created, env.expiresAt-env.staleAt
	var (
		decoded  any
		fromType reflect.Type
		maxExp   int64
	)
	for _, t := range c.tiers {
		if t.vb == nil {
			continue
		}
		raw, ok := t.vb.Get(m.key)
		old, isItem := raw.(*item)
		if !ok || !isItem || old.negative || old.value == nil {
			t.vb.Delete(m.key)
			continue
		}
		typ := reflect.TypeOf(old.value)
		if typ != fromType {
			v, err := dynamic{typ: typ}.decode(c.codec, payload)
			if err != nil {
				t.vb.Delete(m.key)
				c.log.Debug("strata: updated value does not decode into the cached type; dropped", "type", typ.String(), "error", err)
				continue
			}
			decoded, fromType = v, typ
		}
		staleAt := now + scaled(fresh, t.scale)
		expiresAt := staleAt + scaled(stale, t.scale)
		t.vb.Set(m.key, &item{value: decoded, staleAt: staleAt, expiresAt: expiresAt, size: len(payload)}, time.Duration(expiresAt-now))
		maxExp = max(maxExp, expiresAt)
	}
	if len(m.tags) > 0 && maxExp > 0 {
		if !c.tags.add(m.key, m.tags, maxExp) {
			c.inv.tagOverflow.Add(1)
			c.deleteValues(m.key)
		}
	}
	return nil
}

// deleteValues removes keys from the in-process tiers.
func (c *Cache) deleteValues(keys ...string) {
	for _, t := range c.tiers {
		if t.vb != nil {
			t.vb.Delete(keys...)
		}
	}
}

// deleteValuePattern removes the keys matching pattern from the in-process tiers. A value tier
// that cannot delete by pattern is cleared instead, which removes more than asked but never
// leaves a matching key behind.
func (c *Cache) deleteValuePattern(pattern string) {
	c.gens.bumpAll()
	for _, t := range c.tiers {
		if t.vb == nil {
			continue
		}
		switch b := t.vb.(type) {
		case ValuePatternDeleter:
			b.DeletePattern(pattern)
		case Clearer:
			_ = b.Clear(context.Background())
		default:
			c.log.Warn("strata: in-process tier can neither delete by pattern nor clear", "tier", t.name)
		}
	}
}

// clearValueTiers empties the in-process tiers (those that implement Clearer) and counts it.
func (c *Cache) clearValueTiers(ctx context.Context) {
	c.gens.bumpAll()
	cleared := false
	for _, t := range c.tiers {
		if t.vb == nil {
			continue
		}
		if cl, ok := t.vb.(Clearer); ok {
			_ = cl.Clear(ctx)
			cleared = true
		} else {
			c.log.Warn("strata: in-process tier cannot be cleared", "tier", t.name)
		}
	}
	c.tags.reset()
	if cleared {
		c.inv.clears.Add(1)
	}
}

func dedupe(keys []string) []string {
	if len(keys) < 2 {
		return keys
	}
	seen := make(map[string]struct{}, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}
