package tiered

import (
	"context"
	"sync"
	"time"
)

// Tags are indexed in two places, each bounded:
//
//   - In process, per cache: tag → key → expiry. An entry lives as long as the longest copy of
//     the key it covers; expired entries are swept whenever the index has doubled in size since
//     the last sweep (amortised O(1) per write; at most one sweep a second while the index is
//     more than half full of live entries), and the index never holds more than
//     Options.MaxTagEntries (key, tag) pairs. When it is full, a newly tagged key is dropped
//     from the in-process tiers rather than left unindexed (counted in
//     InvalidationStats.TagOverflow), so InvalidateTags can never miss an in-process entry.
//   - In every byte tier that implements [TagIndexer] (the redis tier does): one sorted set per
//     tag under Namespace + "strata:tag:" + tag, members scored by their expiry, expired members
//     pruned on each write to the set, the set itself expiring with its longest-lived member.
//
// InvalidateTags takes the keys from both indexes, deletes them everywhere and sends them with
// the tags to the other instances, which also drop what their own in-process index holds: an
// instance that promoted a tagged entry from Redis (promotion does not carry tags) still loses it.
// A byte tier without an index (Memcached) may hold tagged keys neither index knows: InvalidateTags
// reports each such tier with an error wrapping ErrUnsupported.

// defaultMaxTagEntries bounds the in-process tag index when Options.MaxTagEntries is zero.
const defaultMaxTagEntries = 1_000_000

// tagKeyPrefix is the prefix, after the namespace, of the byte-tier tag index keys.
const tagKeyPrefix = "strata:tag:"

// tagIndex is the in-process tag index.
type tagIndex struct {
	mu      sync.Mutex
	sets    map[string]map[string]int64 // tag → key → expiry (Unix nanoseconds)
	n       int                         // (tag, key) pairs
	limit   int
	sweepAt int   // sweep when n would pass this
	calmAt  int64 // no sweep before this time (Unix ns): a full index is not swept on every write
}

func newTagIndex(limit int) *tagIndex {
	return &tagIndex{sets: make(map[string]map[string]int64), limit: limit, sweepAt: min(1024, limit)}
}

// add records key under tags until expiresAt. It reports false, recording nothing, when the
// index is full even after dropping expired entries.
func (x *tagIndex) add(key string, tags []string, expiresAt int64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n+len(tags) > x.sweepAt {
		if now := time.Now().UnixNano(); now >= x.calmAt {
			x.sweep(now)
			x.sweepAt = min(max(2*x.n, 1024), x.limit)
			if x.n > x.limit/2 {
				// Mostly live entries: sweeping again at once would free little and cost a walk
				// of the whole index per write.
				x.calmAt = now + int64(time.Second)
			}
		}
	}
	if x.n+len(tags) > x.limit {
		return false
	}
	for _, tag := range tags {
		set := x.sets[tag]
		if set == nil {
			set = make(map[string]int64)
			x.sets[tag] = set
		}
		old, ok := set[key]
		if !ok {
			x.n++
		}
		set[key] = max(old, expiresAt)
	}
	return true
}

// sweep drops expired entries and empty tags.
func (x *tagIndex) sweep(now int64) {
	for tag, set := range x.sets {
		for k, exp := range set {
			if exp <= now {
				delete(set, k)
				x.n--
			}
		}
		if len(set) == 0 {
			delete(x.sets, tag)
		}
	}
}

// take removes tags from the index and returns their live keys.
func (x *tagIndex) take(tags []string) []string {
	now := time.Now().UnixNano()
	x.mu.Lock()
	defer x.mu.Unlock()
	var keys []string
	for _, tag := range tags {
		set := x.sets[tag]
		for k, exp := range set {
			if exp > now {
				keys = append(keys, k)
			}
		}
		x.n -= len(set)
		delete(x.sets, tag)
	}
	return keys
}

// reset empties the index (the in-process tiers were cleared).
func (x *tagIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	clear(x.sets)
	x.n = 0
}

// len returns the number of (tag, key) pairs.
func (x *tagIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n
}

// indexTags records that key carries tags, for ttl: in the in-process index when the cache has
// in-process tiers, and in every byte tier that keeps a tag index.
func (c *Cache) indexTags(ctx context.Context, key string, tags []string, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	if c.hasValues() && !c.tags.add(key, tags, time.Now().UnixNano()+int64(ttl)) {
		c.inv.tagOverflow.inc()
		c.deleteValues(key)
		c.log.Warn("strata: in-process tag index full; entry kept out of the in-process tiers", "limit", c.tags.limit)
	}
	for _, t := range c.tiers {
		ti, ok := t.bb.(TagIndexer)
		if !ok {
			continue
		}
		_, _, err := c.callTier(ctx, t, CallSet, func(ctx context.Context) ([]byte, bool, error) {
			return nil, false, ti.IndexTags(ctx, c.namespace+key, c.tagKeys(tags), ttl)
		})
		if err != nil {
			// The entry is in the tier but unindexed: InvalidateTags would miss it. Remove it.
			t.ctr.dropped.inc()
			_ = c.remoteDelete(ctx, t, key)
		}
	}
}

// tagKeys returns the byte-tier index keys of tags.
func (c *Cache) tagKeys(tags []string) []string {
	out := make([]string, len(tags))
	for i, tag := range tags {
		out[i] = c.namespace + tagKeyPrefix + tag
	}
	return out
}

func (c *Cache) hasValues() bool {
	for _, t := range c.tiers {
		if t.vb != nil {
			return true
		}
	}
	return false
}
