package tiered

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/strata/internal/glob"
)

// A change (Set, SetMany, Update, Invalidate, InvalidatePattern, InvalidateTags, InvalidateAll)
// that a byte tier could not take — its call failed, timed out, or was skipped by the open
// breaker — may leave an older value there. Two things follow, both always:
//
//   - the call returns an error wrapping ErrTierUnavailable, whatever the fail mode, so that the
//     caller knows the shared tier (which other instances read) may still hold the older value;
//   - the change is owed to the tier: its keys (to delete), patterns or tags are kept in the
//     tier's outbox, and every call to the tier first applies what is owed — the half-open probe
//     of its breaker included — so the tier serves no read before it has caught up. A background
//     task probes the tier as soon as its breaker allows, so the debt is paid within one breaker
//     cooldown of the tier answering again, whether or not the cache is in use.
//
// A write that could not reach the tier is owed as a delete of its key: the value written is in
// the in-process tiers and in the tiers that took it, and the next read reloads the key where it
// is missing. The outbox is bounded (maxOwedKeys keys, maxOwedPatterns patterns and tag sets):
// past that the tier is lost — it is flushed (every key of the namespace, by pattern) before it
// serves again, or, without a Namespace or pattern delete, bypassed until the cache is closed.

// Outbox bounds; variables so that tests can shrink them.
var (
	maxOwedKeys     = 10_000
	maxOwedPatterns = 64
)

// errRepairing skips a tier call while another caller applies the tier's owed changes.
var errRepairing = errors.New("tiered: tier catching up on changes it missed")

// errTierLost fails every call to a lost tier that cannot be flushed.
var errTierLost = errors.New("tiered: tier missed more changes than it can catch up on, and cannot be flushed")

// outbox holds the changes a byte tier owes. Names are full (namespaced).
type outbox struct {
	pending atomic.Bool // something is owed: every call repairs first
	worker  atomic.Bool // a background repair is running
	repair  sync.Mutex  // held by the caller applying the debt

	mu       sync.Mutex
	seq      uint64
	keys     map[string]uint64 // key → seq of its latest record
	patterns []owedPattern
	tags     []owedPattern // tag index keys, taken and their keys deleted
	lost     uint64        // seq of the overflow, 0 if none

	repaired, flushes counter
}

type owedPattern struct {
	seq  uint64
	full []string // one pattern, or a tag set
}

// owe records what t could not take.
func (o *outbox) owe(keys []string, pattern string, tags []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	if o.lost == 0 {
		switch {
		case keys != nil:
			if o.keys == nil {
				o.keys = make(map[string]uint64)
			}
			for _, k := range keys {
				o.keys[k] = o.seq
			}
		case pattern != "":
			o.patterns = append(o.patterns, owedPattern{seq: o.seq, full: []string{pattern}})
		case tags != nil:
			o.tags = append(o.tags, owedPattern{seq: o.seq, full: tags})
		}
		if len(o.keys) > maxOwedKeys || len(o.patterns)+len(o.tags) > maxOwedPatterns {
			o.keys, o.patterns, o.tags = nil, nil, nil
			o.lost = o.seq
		}
	} else {
		o.lost = o.seq
	}
	o.pending.Store(true)
}

// snapshot returns what is owed now.
func (o *outbox) snapshot() (seq uint64, keys []string, patterns, tags []owedPattern, lost bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	keys = make([]string, 0, len(o.keys))
	for k := range o.keys {
		keys = append(keys, k)
	}
	return o.seq, keys, append([]owedPattern(nil), o.patterns...), append([]owedPattern(nil), o.tags...), o.lost != 0
}

// settle forgets what was owed up to seq; it reports whether nothing is owed any more.
func (o *outbox) settle(seq uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lost != 0 && o.lost <= seq {
		o.lost = 0
	}
	for k, s := range o.keys {
		if s <= seq {
			delete(o.keys, k)
		}
	}
	keep := func(l []owedPattern) []owedPattern {
		out := l[:0]
		for _, p := range l {
			if p.seq > seq {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	o.patterns, o.tags = keep(o.patterns), keep(o.tags)
	if o.lost == 0 && len(o.keys) == 0 && o.patterns == nil && o.tags == nil {
		o.keys = nil
		o.pending.Store(false)
		return true
	}
	return false
}

// bulk reports whether what is owed needs a walk of the keyspace (patterns, tags, a flush).
func (o *outbox) bulk() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lost != 0 || len(o.patterns) > 0 || len(o.tags) > 0
}

func (o *outbox) size() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.keys) + len(o.patterns) + len(o.tags)
	if o.lost != 0 {
		n++
	}
	return n
}

// owe records that tier t could not take a change, and makes sure a repair will follow.
// keys are the caller's (without the namespace), pattern and tagKeys full.
func (c *Cache) owe(t *tier, keys []string, pattern string, tagKeys []string) {
	if keys != nil {
		full := make([]string, len(keys))
		for i, k := range keys {
			full[i] = c.namespace + k
		}
		keys = full
	}
	t.owed.owe(keys, pattern, tagKeys)
	c.startRepair(t)
}

// oweErr records the change in t's outbox unless err says the backend cannot perform it at all.
func (c *Cache) oweErr(t *tier, err error, keys []string, pattern string, tagKeys []string) {
	if err != nil && !errors.Is(err, ErrUnsupported) {
		c.owe(t, keys, pattern, tagKeys)
	}
}

// repairTick is how often the background repair asks the breaker whether it may probe.
const repairTick = 50 * time.Millisecond

// startRepair starts the background task that pays t's debt as soon as the tier answers.
func (c *Cache) startRepair(t *tier) {
	if !t.owed.worker.CompareAndSwap(false, true) {
		return
	}
	started := c.bg.goFn(func() {
		defer func() {
			t.owed.worker.Store(false)
			if t.owed.pending.Load() && !c.closed.Load() {
				c.startRepair(t) // owed again just as this task ended
			}
		}()
		tick := time.NewTicker(repairTick)
		defer tick.Stop()
		probeKey := c.namespace + "\x00strata:probe"
		for t.owed.pending.Load() && c.closing.Err() == nil {
			select {
			case <-tick.C:
			case <-c.closing.Done():
				return
			}
			if t.br.current() == BreakerOpen && !t.br.due() {
				continue
			}
			_, _, _ = c.callTier(c.closing, t, CallGet, func(ctx context.Context) ([]byte, bool, error) {
				// Reached after the debt was paid: one real call, so that a probe that
				// closes the breaker has heard from the tier.
				return t.bb.Get(ctx, probeKey)
			})
		}
	})
	if !started {
		t.owed.worker.Store(false)
	}
}

// repair applies what t owes, within ctx. Only one caller repairs at a time; the others get
// errRepairing at once and skip the tier.
func (c *Cache) repair(ctx context.Context, t *tier) error {
	o := &t.owed
	if !o.repair.TryLock() {
		return errRepairing
	}
	defer o.repair.Unlock()
	if !o.pending.Load() {
		return nil
	}
	seq, keys, patterns, tags, lost := o.snapshot()
	if lost {
		pd, ok := t.bb.(PatternDeleter)
		if !ok || c.namespace == "" {
			return errTierLost
		}
		if _, err := pd.DeletePattern(ctx, glob.Escape(c.namespace)+"*"); err != nil {
			return fmt.Errorf("flushing the namespace after missed changes: %w", err)
		}
		o.flushes.inc()
		c.log.Warn("strata: tier flushed: it missed more changes than it could keep", "tier", t.name, "level", t.level+1)
	} else {
		for _, tg := range tags {
			ti, ok := t.bb.(TagIndexer)
			if !ok {
				continue
			}
			found, err := ti.TakeTagged(ctx, tg.full)
			if err != nil {
				return fmt.Errorf("owed tag invalidation: %w", err)
			}
			keys = append(keys, found...)
		}
		for _, p := range patterns {
			pd, ok := t.bb.(PatternDeleter)
			if !ok {
				continue
			}
			if _, err := pd.DeletePattern(ctx, p.full[0]); err != nil {
				return fmt.Errorf("owed pattern invalidation: %w", err)
			}
		}
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			if err := t.bb.Delete(ctx, keys[:n]...); err != nil {
				return fmt.Errorf("owed invalidation: %w", err)
			}
			keys = keys[n:]
		}
	}
	o.repaired.inc()
	if o.settle(seq) {
		c.log.Info("strata: tier caught up on the changes it missed", "tier", t.name, "level", t.level+1)
	}
	return nil
}
