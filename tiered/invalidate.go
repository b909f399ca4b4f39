package tiered

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/stratacache/strata/internal/busframe"
	"github.com/stratacache/strata/internal/glob"
)

// maxBroadcastKeys is the most keys a tag invalidation sends; beyond it the others clear their
// in-process tiers.
const maxBroadcastKeys = 10_000

// ErrUnsupported wraps an operation that a tier's backend cannot perform (a byte tier without
// pattern delete, say).
var ErrUnsupported = errors.New("tiered: operation not supported by the tier")

// errNoNamespace refuses InvalidateAll on a cache with byte tiers and no Namespace: it would
// otherwise remove every key of the shared store.
var errNoNamespace = fmt.Errorf("%w: InvalidateAll needs a Namespace (it never empties a shared store)", ErrInvalidOptions)

// Invalidate removes the keys from every tier of this cache and, with a bus (Options.Bus), from
// the in-process tiers of every other instance. It is a change of the keys: a load of one of them
// that started before it stores nothing. A failed delete or broadcast is returned (joined), since
// it may leave an old value behind.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	if err := c.checkKeys(keys); err != nil || len(keys) == 0 {
		return err
	}
	return c.observeWrite(ctx, OpInvalidate, oneKey(keys), func(ctx context.Context) error {
		c.ctr.invalidations.inc()
		return c.removeKeys(ctx, keys, true)
	})
}

// Update writes value to every tier, like Set, and sends it to the other instances (with a bus),
// which replace their in-process copy so that their next read neither misses nor serves the old
// value.
//
// A receiver that holds the key in an in-process tier, with a value of the same Go type, decodes
// the new value into it; one that does not hold it (or holds another type, or cannot decode it)
// simply drops the key, and its next read finds the new value in the shared tiers. A value that
// cannot be encoded, or whose encoding is larger than BusOptions.MaxUpdateSize, is sent as an
// invalidation instead. Tags given in opts travel with the value. A byte tier that cannot take
// the write makes Update return an error wrapping [ErrTierUnavailable], as for [Cache.Set].
func (c *Cache) Update(ctx context.Context, key string, value any, s Strategy, opts ...WriteOption) error {
	if err := c.check(key); err != nil {
		return err
	}
	s, err := c.strategy(s)
	if err != nil {
		return err
	}
	w, err := writeOptions(opts)
	if err != nil {
		return err
	}
	return c.observeWrite(ctx, OpUpdate, key, func(ctx context.Context) error {
		c.ctr.sets.inc()
		t := s.times(time.Now().UnixNano(), false)
		e, encErr := c.prepare(key, value, t, false, w.tags)
		e.change = true
		var err error
		c.gens.change([]string{key}, func() {
			_, err = c.put(ctx, e)
			if encErr != nil {
				err = errors.Join(err, c.deleteBytes(ctx, []string{key}))
			}
		})
		err = errors.Join(encErr, err)
		if c.bus == nil {
			return err
		}
		m := &busframe.Message{Kind: busframe.Keys, Keys: []string{key}}
		if encErr == nil && !c.hasBytes {
			// No byte tier encoded it: encode it for the others.
			e.payload, e.flags, encErr = c.encode(value)
		}
		if encErr == nil && len(e.payload) <= c.bus.maxUpdate {
			entry := encodeEnvelope(&envelope{flags: e.flags, fp: e.fp, t: t, payload: e.payload})
			m = &busframe.Message{Kind: busframe.Update, Key: key, Tags: w.tags, Entry: entry}
		}
		return errors.Join(err, c.bus.publish(ctx, m))
	})
}

// InvalidatePattern removes every key matching the Redis glob pattern from every tier, and with a
// bus from the in-process tiers of every other instance.
//
// The syntax is Redis's, on every tier: "*" any sequence, "?" one byte, "[abc]", "[^abc]",
// "[a-z]" one byte of (or not of) a set, "\" escapes the next byte. A pattern whose "[" no "]"
// closes is refused with an error wrapping [ErrInvalidOptions]. The pattern applies to keys as
// the caller names them: byte tiers prefix it with the (escaped) Namespace, so it never reaches
// keys of another namespace. Redis tiers walk the keyspace with SCAN on every master and delete with UNLINK in batches; in-process
// tiers walk their keys. Both cost time proportional to the number of keys, so prefer Invalidate
// or InvalidateTags for hot paths. Byte-tier work runs under Options.LoadTimeout (or the tier's
// Timeout, if longer) rather than the tier's Timeout.
func (c *Cache) InvalidatePattern(ctx context.Context, pattern string) error {
	if err := c.usable(); err != nil {
		return err
	}
	if pattern == "" {
		return fmt.Errorf("%w: empty pattern", ErrInvalidOptions)
	}
	if err := glob.Validate(pattern); err != nil {
		return fmt.Errorf("%w: pattern %q: %w", ErrInvalidOptions, pattern, err)
	}
	return c.observeWrite(ctx, OpInvalidate, "", func(ctx context.Context) error {
		c.ctr.invalidations.inc()
		var errs []error
		c.gens.changeAll(func() {
			errs = append(errs, c.deleteRemotePattern(ctx, glob.Escape(c.namespace)+pattern)...)
			c.deleteValuePattern(pattern)
		})
		errs = append(errs, c.broadcast(ctx, &busframe.Message{Kind: busframe.Pattern, Pattern: pattern}))
		return errors.Join(errs...)
	})
}

// InvalidateTags removes every entry written with one of the tags (see [Tags]) from every tier,
// and with a bus from the in-process tiers of every other instance. See [Options.MaxTagEntries]
// for how the tag indexes are kept bounded. The other instances receive the tags and the keys
// found under them; beyond 10,000 keys they are told to clear their in-process tiers instead.
// An empty tag is refused with an error wrapping [ErrInvalidOptions].
//
// The keys come from the in-process tag index and from the byte tiers that keep one
// ([TagIndexer], as the redis tier does); they are removed from every tier. A byte tier that
// keeps no tag index (Memcached) may hold tagged entries no index here knows (written by another
// instance, or before a restart): for each such tier InvalidateTags still removes what it found,
// and returns an error wrapping [ErrUnsupported] that names the tier.
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) error {
	if err := c.usable(); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	for _, t := range tags {
		if t == "" {
			return fmt.Errorf("%w: empty tag", ErrInvalidOptions)
		}
	}
	return c.observeWrite(ctx, OpInvalidate, "", func(ctx context.Context) error {
		c.ctr.invalidations.inc()
		keys := c.tags.take(tags)
		var errs []error
		unknown := false // a byte tier could not say which keys the tags hold
		for _, t := range c.tiers {
			if t.bb == nil {
				continue
			}
			ti, ok := t.bb.(TagIndexer)
			if !ok {
				errs = append(errs, fmt.Errorf("%w: %s (L%d) keeps no tag index: tagged entries it holds that no other index knows are left in place", ErrUnsupported, t.name, t.level+1))
				continue
			}
			var found []string
			tagKeys := c.tagKeys(tags)
			_, _, err := c.callTierWithin(ctx, t, CallDelete, c.bulkTimeout(t), func(ctx context.Context) ([]byte, bool, error) {
				var err error
				found, err = ti.TakeTagged(ctx, tagKeys)
				return nil, false, err
			})
			if err != nil {
				// The tier owes the tags; the keys under them are unknown here, so every
				// in-process tier (this one's and the others') is cleared instead.
				c.oweErr(t, err, nil, "", tagKeys)
				unknown = true
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
			c.gens.change(keys, func() { errs = append(errs, c.deleteTiers(ctx, keys, true)) })
		}
		m := &busframe.Message{Kind: busframe.Tags, Tags: tags, Keys: keys}
		if unknown {
			c.clearValueTiers()
		}
		if len(keys) > maxBroadcastKeys || unknown {
			// Cheaper for everyone than a huge message: the others empty their in-process tiers.
			m = &busframe.Message{Kind: busframe.Clear}
		}
		errs = append(errs, c.broadcast(ctx, m))
		return errors.Join(errs...)
	})
}

// InvalidateAll removes every entry of the cache's namespace from every tier (byte tiers by
// pattern, as InvalidatePattern(ctx, "*")) and with a bus clears the in-process tiers of every
// other instance. With byte tiers it requires a Namespace and otherwise returns an error wrapping
// [ErrInvalidOptions] without touching anything: it never empties a shared Redis (and never uses
// FLUSHDB).
func (c *Cache) InvalidateAll(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	if c.hasBytes && c.namespace == "" {
		return errNoNamespace
	}
	return c.observeWrite(ctx, OpInvalidate, "", func(ctx context.Context) error {
		c.ctr.invalidations.inc()
		var errs []error
		c.gens.changeAll(func() {
			errs = append(errs, c.deleteRemotePattern(ctx, glob.Escape(c.namespace)+"*")...)
			c.clearValues()
		})
		errs = append(errs, c.broadcast(ctx, &busframe.Message{Kind: busframe.Clear}))
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
			c.oweErr(t, err, nil, full, nil)
			errs = append(errs, tierErr(t, err))
		}
	}
	return errs
}

// broadcast publishes m when the cache has a bus.
func (c *Cache) broadcast(ctx context.Context, m *busframe.Message) error {
	if c.bus == nil {
		return nil
	}
	return c.bus.publish(ctx, m)
}

// bulkTimeout is the budget of a byte-tier call that walks many keys.
func (c *Cache) bulkTimeout(t *tier) time.Duration { return max(t.timeout, c.loadTimeout) }

// receive handles one message from the bus, on the bus goroutine.
func (c *Cache) receive(frame []byte) {
	h := c.bus
	c.inv.received.inc()
	m, err := busframe.Decode(frame)
	if err != nil {
		c.inv.malformed.inc()
		c.log.Debug("strata: ignoring malformed bus message", "error", err)
		return
	}
	if m.Sender == h.id {
		c.inv.echoes.inc()
		// The sender's own reads can race with its change too: give them the second pass.
		switch m.Kind {
		case busframe.Keys, busframe.Tags:
			h.schedule(recheck{keys: m.Keys})
		case busframe.Pattern:
			h.schedule(recheck{pattern: m.Pattern})
		}
		return
	}
	rc, err := c.apply(m)
	if err != nil {
		c.inv.failed.inc()
		c.log.Warn("strata: bus message not applied", "kind", m.Kind.String(), "error", err)
	} else {
		c.inv.applied.inc()
	}
	h.schedule(rc)
}

// apply carries out another instance's message on the in-process tiers, as a change of its keys.
// It returns the second pass to run RecheckAfter later (see BusOptions.RecheckAfter).
func (c *Cache) apply(m *busframe.Message) (rc recheck, err error) {
	switch m.Kind {
	case busframe.Keys:
		rc.keys = m.Keys
		c.gens.change(m.Keys, func() { c.deleteValues(m.Keys...) })
	case busframe.Update:
		c.gens.change([]string{m.Key}, func() { err = c.applyUpdate(m) })
		rc.key = m.Key
		rc.items = make([]any, len(c.tiers))
		for i, t := range c.tiers {
			if t.vb != nil {
				rc.items[i], _ = t.vb.Get(m.Key)
			}
		}
	case busframe.Pattern:
		if verr := glob.Validate(m.Pattern); verr != nil {
			// Not a pattern this build understands: remove more rather than less.
			c.gens.changeAll(c.clearValues)
			return rc, fmt.Errorf("pattern %q: %w", m.Pattern, verr)
		}
		rc.pattern = m.Pattern
		c.gens.changeAll(func() { c.deleteValuePattern(m.Pattern) })
	case busframe.Tags:
		rc.keys = append(c.tags.take(m.Tags), m.Keys...)
		if len(rc.keys) > 0 {
			c.gens.change(rc.keys, func() { c.deleteValues(rc.keys...) })
		}
	case busframe.Clear:
		c.gens.changeAll(c.clearValues)
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
	h := c.bus
	if len(rc.keys) > 0 {
		c.deleteValues(rc.keys...)
	}
	if rc.pattern != "" {
		c.deleteValuePattern(rc.pattern)
	}
	if rc.key != "" {
		if latest := h.updates[rc.key]; latest != rc.seq {
			return // a later update of the key stored a newer entry and has its own pass
		}
		delete(h.updates, rc.key)
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

// schedule queues a second pass RecheckAfter from now. Only the bus goroutine calls it.
func (h *coherence) schedule(rc recheck) {
	if h.recheckAfter <= 0 || rc.empty() {
		return
	}
	rc.at = time.Now().Add(h.recheckAfter)
	if rc.key != "" {
		if h.updates == nil {
			h.updates = make(map[string]uint64)
		}
		h.seq++
		rc.seq = h.seq
		h.updates[rc.key] = rc.seq
	}
	h.pending = append(h.pending, rc)
}

// runDue performs the second passes whose time has come and returns how long until the next one
// (0 when none is pending).
func (h *coherence) runDue() time.Duration {
	now := time.Now()
	n := 0
	for n < len(h.pending) && !h.pending[n].at.After(now) {
		h.pending[n].run(h.c)
		h.passes.Add(1)
		h.pending[n] = recheck{}
		n++
	}
	if n > 0 {
		h.pending = h.pending[n:]
		if len(h.pending) == 0 {
			h.pending = nil // let the backing array go
		}
	}
	if len(h.pending) == 0 {
		return 0
	}
	return max(h.pending[0].at.Sub(now), time.Millisecond)
}

// applyUpdate replaces the in-process copy of an updated key. The new value is decoded into the
// Go type of the value it replaces, when the update's type fingerprint is that type's; a key not
// held, held as "not found", held with another type, or whose new value does not decode, is
// dropped.
func (c *Cache) applyUpdate(m *busframe.Message) error {
	env, err := decodeEnvelope(m.Entry)
	if err == nil && env.negative() {
		err = fmt.Errorf("%w: update with a negative entry", errCorrupt)
	}
	if err != nil {
		c.deleteValues(m.Key)
		return fmt.Errorf("update of a key: %w", err)
	}
	payload := env.payload
	if env.flags&flagCompressed != 0 {
		if payload, err = decompress(payload); err != nil {
			c.deleteValues(m.Key)
			return fmt.Errorf("update of a key: %w", err)
		}
	}
	// The sender's times are on its clock: keep the lengths of the windows, on ours.
	now := time.Now().UnixNano()
	t := env.t
	d := now - t.created
	t = times{created: now, refreshAt: t.refreshAt + d, staleAt: t.staleAt + d, swrEnd: t.swrEnd + d, expiresAt: t.expiresAt + d}
	var (
		decoded  any
		fromType reflect.Type
		maxExp   int64
	)
	for _, tr := range c.tiers {
		if tr.vb == nil {
			continue
		}
		raw, ok := tr.vb.Get(m.Key)
		old, isItem := raw.(*item)
		if !ok || !isItem || old.negative || old.value == nil || old.fp != env.fp {
			tr.vb.Delete(m.Key)
			continue
		}
		typ := reflect.TypeOf(old.value)
		if typ != fromType {
			v, err := c.decodeAs(typ, payload)
			if err != nil {
				tr.vb.Delete(m.Key)
				c.log.Debug("strata: updated value does not decode into the cached type; dropped", "type", typ.String(), "error", err)
				continue
			}
			decoded, fromType = v, typ
		}
		tt := t.rescale(now, 1, tr.scale)
		tr.vb.Set(m.Key, newItem(decoded, tt, len(payload), env.fp, false), time.Duration(c.valueTTL(tt.expiresAt-now)))
		maxExp = max(maxExp, tt.expiresAt)
	}
	if len(m.Tags) > 0 && maxExp > 0 {
		if !c.tags.add(m.Key, m.Tags, maxExp) {
			c.inv.tagOverflow.inc()
			c.deleteValues(m.Key)
		}
	}
	return nil
}

// deleteValuePattern removes the keys matching pattern from the in-process tiers. A value tier
// that cannot delete by pattern is cleared instead, which removes more than asked but never
// leaves a matching key behind. It runs within a change of every key.
func (c *Cache) deleteValuePattern(pattern string) {
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

// clearValueTiers empties the in-process tiers as a change of every key.
func (c *Cache) clearValueTiers() { c.gens.changeAll(c.clearValues) }

// clearValues empties the in-process tiers (those that implement Clearer) and counts it. It runs
// within a change of every key.
func (c *Cache) clearValues() {
	cleared := false
	for _, t := range c.tiers {
		if t.vb == nil {
			continue
		}
		if cl, ok := t.vb.(Clearer); ok {
			_ = cl.Clear(context.Background())
			cleared = true
		} else {
			c.log.Warn("strata: in-process tier cannot be cleared", "tier", t.name)
		}
	}
	c.tags.reset()
	if cleared {
		c.inv.clears.inc()
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
