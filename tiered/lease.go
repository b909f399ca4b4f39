package tiered

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Leaser is an optional capability of a [ByteBackend] shared by the instances of a service (Redis):
// short leases that let one instance of the fleet load a key that every tier misses while the
// others wait for what it stores. The cache uses the first byte tier that implements it when
// Options.Leases (or Strategy.WithLease) asks for leases.
//
// A lease is marked with a token unique to one load and expires after its ttl, so a holder that
// dies costs the others one ttl. Its write is fenced: it lands only while the lease still holds
// its token, so a holder whose lease expired and was taken by another instance never stores an
// older value over the newer one; a backend that keeps the lease in the key itself (Redis) also
// refuses it when the key was set or deleted meanwhile. Keys arrive with the cache's namespace.
// While a lease is held, the backend's reads of the key report no entry.
type Leaser interface {
	// GetOrLease returns, for each key, the entry stored under it; where there is none and no
	// lease on the key is held, it takes the lease for ttl, marked with token, and reports it in
	// taken. A held lease is left alone (data nil, taken false): another instance is loading.
	GetOrLease(ctx context.Context, keys []string, token string, ttl time.Duration) (data [][]byte, taken []bool, err error)
	// SetLeased stores data[i] under keys[i] for ttls[i] where the lease of keys[i] still holds
	// token, releases those leases, and reports which keys it stored. Where the lease expired or
	// is another's, it stores nothing.
	SetLeased(ctx context.Context, keys []string, token string, data [][]byte, ttls []time.Duration) (stored []bool, err error)
	// ReleaseLeases releases the leases of keys that still hold token.
	ReleaseLeases(ctx context.Context, keys []string, token string) error
}

// Lease events reported to Observer.LeaseEvent.
const (
	leaseTaken    = "taken"     // this load holds the lease: it calls the loader
	leaseWaited   = "waited"    // another instance's load answered this one
	leaseTimedOut = "timed_out" // the wait reached Options.LeaseWait: this load calls the loader
	leaseLost     = "lost"      // the holder's write was refused: its lease had expired
	leaseSkipped  = "skipped"   // the lease tier failed (or its breaker is open): no lease
)

// Polling of a held lease: the first poll after leasePollMin, then doubling up to leasePollMax.
const (
	leasePollMin = time.Millisecond
	leasePollMax = 8 * time.Millisecond
)

// testHookLeaseWait, when set by a test, runs when a load starts waiting for the keys whose
// leases other instances hold.
var testHookLeaseWait func(keys []string)

// leaseConfig is the cache's lease setup.
type leaseConfig struct {
	on        bool   // Options.Leases
	t         *tier  // the first byte tier implementing Leaser, nil for none
	l         Leaser // its backend
	ttl, wait time.Duration

	taken, waited, timedOut, lost, skipped counter
}

func (c *Cache) initLeases(o Options) {
	c.lease.on = o.Leases
	c.lease.ttl = o.LeaseTTL
	if c.lease.ttl == 0 {
		c.lease.ttl = defaultLeaseTTL
	}
	c.lease.wait = o.LeaseWait
	if c.lease.wait == 0 {
		c.lease.wait = min(2*c.lease.ttl, c.loadTimeout/2)
	}
	for _, t := range c.tiers {
		if l, ok := t.bb.(Leaser); ok && t.bb != nil {
			c.lease.t, c.lease.l = t, l
			return
		}
	}
}

// leaseHold is one load's claim on the leases of its keys. It is used by one goroutine at a time.
type leaseHold struct {
	token string
	keys  []string       // without the namespace
	taken []bool         // this load holds keys[i]'s lease
	pos   map[string]int // keys[i] → i, for batches
	// skipped is set when the walk's read of the lease tier failed: the load goes on without a
	// lease.
	skipped bool
}

// newLeaseHold returns a hold for keys when a load under s takes leases, nil otherwise.
func (c *Cache) newLeaseHold(s Strategy, keys ...string) *leaseHold {
	if c.lease.l == nil || s.lease < 0 || (s.lease == 0 && !c.lease.on) {
		return nil
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return &leaseHold{token: hex.EncodeToString(b[:]), keys: keys, taken: make([]bool, len(keys))}
}

// index returns the position of key in h.keys.
func (h *leaseHold) index(key string) int {
	if len(h.keys) == 1 {
		return 0
	}
	if h.pos == nil {
		h.pos = make(map[string]int, len(h.keys))
		for i, k := range h.keys {
			h.pos[k] = i
		}
	}
	return h.pos[key]
}

// leaseEvent counts and reports a lease event of n keys.
func (c *Cache) leaseEvent(ctx context.Context, ev string, n int) {
	switch ev {
	case leaseTaken:
		c.lease.taken.add(uint64(n))
	case leaseWaited:
		c.lease.waited.add(uint64(n))
	case leaseTimedOut:
		c.lease.timedOut.add(uint64(n))
	case leaseLost:
		c.lease.lost.add(uint64(n))
	case leaseSkipped:
		c.lease.skipped.add(uint64(n))
	}
	if c.obs != nil {
		for range n {
			c.obs.LeaseEvent(ctx, c.lease.t.info, ev)
		}
	}
}

// getOrLease reads idx's keys of h from the lease tier and takes the free leases among them, under
// the tier's breaker and timeout. It is reported as a get.
func (c *Cache) getOrLease(ctx context.Context, h *leaseHold, idx []int) ([][]byte, []bool, error) {
	t := c.lease.t
	full := make([]string, len(idx))
	for j, i := range idx {
		full[j] = c.namespace + h.keys[i]
	}
	var data [][]byte
	var taken []bool
	_, _, err := c.callTier(ctx, t, CallGet, func(ctx context.Context) ([]byte, bool, error) {
		d, tk, err := c.lease.l.GetOrLease(ctx, full, h.token, c.lease.ttl)
		if err == nil && (len(d) != len(full) || len(tk) != len(full)) {
			err = fmt.Errorf("tiered: %s GetOrLease returned %d entries and %d leases for %d keys", t.name, len(d), len(tk), len(full))
		}
		data, taken = d, tk
		hit := false
		for _, x := range d {
			hit = hit || x != nil
		}
		return nil, hit, err
	})
	if err != nil {
		return nil, nil, err
	}
	n := 0
	for j, i := range idx {
		if taken[j] {
			h.taken[i] = true
			n++
		}
	}
	if n > 0 {
		c.leaseEvent(ctx, leaseTaken, n)
	}
	return data, taken, nil
}

// remoteRead is a walk's read of byte tier t: with a lease hold and t the lease tier, the read
// also takes the key's lease when the tier holds nothing.
func (c *Cache) remoteRead(ctx context.Context, t *tier, key string, start time.Time, h *leaseHold) ([]byte, bool, error) {
	if h == nil || t != c.lease.t {
		return c.remoteGetAt(ctx, t, key, start)
	}
	data, _, err := c.getOrLease(ctx, h, []int{0})
	if err != nil {
		h.skipped = true
		c.leaseEvent(ctx, leaseSkipped, 1)
		return nil, false, err
	}
	return data[0], data[0] != nil, nil
}

// releaseLeases releases the leases h holds, at once, so that the instances waiting for them
// take them instead of waiting out their ttl.
func (c *Cache) releaseLeases(ctx context.Context, h *leaseHold) {
	if h == nil {
		return
	}
	var keys []string
	for i, k := range h.keys {
		if h.taken[i] {
			keys = append(keys, c.namespace+k)
			h.taken[i] = false
		}
	}
	if len(keys) == 0 {
		return
	}
	_, _, _ = c.callTier(ctx, c.lease.t, CallDelete, func(ctx context.Context) ([]byte, bool, error) {
		return nil, false, c.lease.l.ReleaseLeases(ctx, keys, h.token)
	})
}

// leaseAnswer is what waiting for another instance's lease gave one key.
type leaseAnswer struct {
	it      *item // the entry the holder stored, nil when this load must call the loader
	foreign bool  // the lease tier holds another type's entry
}

// awaitLeases waits for the keys idx of h, whose leases other instances hold: each key ends
// answered (the entry the holder stored, promoted into the tiers above the lease tier), taken (the
// lease came free: this load holds it), or left to this load without a lease (the tier failed, or
// the wait reached Options.LeaseWait). gens[i] is the generation a key's promotion or store is
// checked against; a key whose lease this load takes gets the generation read before the take.
//
// With once, it reads the lease tier once, at once, and returns the keys whose leases are held by
// others in held, without waiting for them.
func (c *Cache) awaitLeases(ctx context.Context, h *leaseHold, idx []int, gens []uint64, dec decoder, once bool) (out []leaseAnswer, held []int) {
	out = make([]leaseAnswer, len(h.keys))
	idx = slices.Clone(idx) // filtered in place below; the caller's stays as it was
	t := c.lease.t
	poll := c.newLeasePoll(ctx)
	defer poll.stop()
	fp := dec.fingerprint(c)
	if hook := testHookLeaseWait; hook != nil && !once {
		keys := make([]string, len(idx))
		for j, i := range idx {
			keys[j] = h.keys[i]
		}
		hook(keys)
	}
	for pass := 0; len(idx) > 0; pass++ {
		if once && pass > 0 {
			return out, idx
		}
		if !once && !poll.wait(ctx, len(idx)) {
			return out, nil
		}
		g := make([]uint64, len(idx))
		for j, i := range idx {
			g[j] = c.gens.of(h.keys[i])
		}
		data, taken, err := c.getOrLease(ctx, h, idx)
		if err != nil {
			c.leaseEvent(ctx, leaseSkipped, len(idx))
			return out, nil
		}
		now := time.Now().UnixNano()
		still := idx[:0]
		answered := 0
		for j, i := range idx {
			key := h.keys[i]
			switch {
			case taken[j]:
				gens[i] = g[j]
				continue
			case data[j] == nil:
				still = append(still, i)
				continue
			}
			env, err := decodeEnvelope(data[j])
			if err != nil {
				c.dropCorrupt(ctx, t, key, err)
				still = append(still, i)
				continue
			}
			if env.t.expiresAt <= now {
				still = append(still, i)
				continue
			}
			if !env.negative() && fp != 0 && env.fp != fp {
				out[i].foreign = true
				continue
			}
			it, err := c.decodeItem(&env, dec)
			if err != nil {
				c.dropCorrupt(ctx, t, key, err)
				still = append(still, i)
				continue
			}
			out[i].it = it
			answered++
			c.promote(ctx, key, g[j], it, t.level, env.payload, env.flags)
		}
		if answered > 0 {
			c.leaseEvent(ctx, leaseWaited, answered)
		}
		idx = still
	}
	return out, nil
}

// loadLeased is the start of a single-key load under a lease hold: unless the walk took the lease,
// it waits for the instance that holds it. answered reports that the holder's entry answers the
// load (res and err are then its result); otherwise the caller loads, holding the lease when
// h.taken[0], under *gen.
func (c *Cache) loadLeased(ctx context.Context, key string, gen *uint64, dec decoder, h *leaseHold, wr *walked) (res result, answered bool, err error) {
	if h.taken[0] || h.skipped || wr.foreign {
		return res, false, nil // holding the lease, or without one
	}
	gens := []uint64{*gen}
	as, _ := c.awaitLeases(ctx, h, []int{0}, gens, dec, false)
	a := as[0]
	*gen = gens[0]
	if a.foreign {
		wr.foreign = true
	}
	if a.it == nil {
		return res, false, nil
	}
	level := c.lease.t.level
	c.tiers[level].ctr.hits.inc()
	res = result{value: a.it.value, outcome: OutcomeHit, tier: level}
	if a.it.negative {
		c.ctr.negative.inc()
		res.outcome = OutcomeNegative
		return res, true, ErrNotFound
	}
	return res, true, nil
}

// setLeased writes entries to the lease tier with their leases' fence: each lands only while its
// lease holds the token, and the lease is released with it. It returns which entries landed;
// the others are counted as lost leases. A failing tier counts the writes as dropped.
func (c *Cache) setLeased(ctx context.Context, h *leaseHold, idx []int, items []batchItem) ([]bool, error) {
	t := c.lease.t
	keys := make([]string, len(items))
	data := make([][]byte, len(items))
	ttls := make([]time.Duration, len(items))
	for j, it := range items {
		keys[j], data[j], ttls[j] = c.namespace+it.key, it.data, it.ttl
	}
	var stored []bool
	_, _, err := c.callTier(ctx, t, CallSet, func(ctx context.Context) ([]byte, bool, error) {
		s, err := c.lease.l.SetLeased(ctx, keys, h.token, data, ttls)
		if err == nil && len(s) != len(keys) {
			err = fmt.Errorf("tiered: %s SetLeased returned %d results for %d keys", t.name, len(s), len(keys))
		}
		stored = s
		return nil, false, err
	})
	if err != nil {
		t.ctr.dropped.add(uint64(len(items)))
		return nil, err
	}
	lost := 0
	for j, i := range idx {
		h.taken[i] = false
		if !stored[j] {
			lost++
		}
	}
	if lost > 0 {
		c.leaseEvent(ctx, leaseLost, lost)
	}
	return stored, nil
}

// putLeased is put's write of e to the lease tier: fenced by e's lease when its load holds it,
// plain otherwise. A refused write sets e.fenced.
func (c *Cache) putLeased(ctx context.Context, e *entryWrite, data []byte, ttl time.Duration) error {
	if !e.lease.taken[e.leaseIdx] {
		return c.remoteSet(ctx, c.lease.t, e.key, data, ttl)
	}
	stored, err := c.setLeased(ctx, e.lease, []int{e.leaseIdx}, []batchItem{{key: e.key, data: data, ttl: ttl}})
	if err == nil && !stored[0] {
		e.fenced = true
	}
	return err
}

// leaseBatch runs a batch load of h's keys under leases. One read of the lease tier takes the free
// leases and finds the values stored meanwhile; load(sel) then loads the keys taken (and those
// left without a lease); the keys whose leases other instances hold are waited for, answer(i, it)
// hands out what their holders stored, and those still unanswered go to a second load. So
// overlapping batches on several instances never wait for each other's leases before they load
// their own. foreign keys (a byte tier holds another type) are loaded without a lease.
func (c *Cache) leaseBatch(ctx context.Context, h *leaseHold, gens []uint64, foreign []bool, dec decoder, answer func(i int, it *item), load func(sel []int)) {
	var idx, now []int
	for i := range h.keys {
		if foreign[i] {
			now = append(now, i)
		} else {
			idx = append(idx, i)
		}
	}
	out, held := c.awaitLeases(ctx, h, idx, gens, dec, true)
	isHeld := make(map[int]bool, len(held))
	for _, i := range held {
		isHeld[i] = true
	}
	for _, i := range idx {
		switch {
		case out[i].it != nil:
			answer(i, out[i].it)
		case !isHeld[i]:
			now = append(now, i)
		}
	}
	if len(now) > 0 {
		load(now)
	}
	if len(held) == 0 {
		return
	}
	out, _ = c.awaitLeases(ctx, h, held, gens, dec, false)
	var rest []int
	for _, i := range held {
		if out[i].it != nil {
			answer(i, out[i].it)
		} else {
			rest = append(rest, i)
		}
	}
	if len(rest) > 0 {
		load(rest)
	}
}

// putManyLeased is putMany's write to the lease tier: items whose load holds their lease are
// written fenced by it (a refused one marks its entry fenced), the others plainly.
func (c *Cache) putManyLeased(ctx context.Context, owners []*entryWrite, items []batchItem) error {
	var plain []batchItem
	var leased []batchItem
	var les []*entryWrite
	for j, e := range owners {
		if e.lease != nil && e.lease.taken[e.leaseIdx] {
			leased, les = append(leased, items[j]), append(les, e)
		} else {
			plain = append(plain, items[j])
		}
	}
	var err error
	if len(plain) > 0 {
		err = c.remoteSetMany(ctx, c.lease.t, plain)
	}
	if len(leased) == 0 {
		return err
	}
	h := les[0].lease // one load's entries: one hold
	idx := make([]int, len(les))
	for j, e := range les {
		idx[j] = e.leaseIdx
	}
	stored, lerr := c.setLeased(ctx, h, idx, leased)
	for j, e := range les {
		if lerr == nil && !stored[j] {
			e.fenced = true
		}
	}
	return errors.Join(err, lerr)
}

// Claim coordinates a load that the caller runs itself, outside [Load] — an HTTP response
// streamed to its client while it is stored, say — with the other instances, as Load does under
// a lease (Options.Leases, [Strategy.WithLease]): it reads key in the lease tier and, when the
// tier holds nothing, takes key's lease or waits for the instance that holds it.
//
// stored reports that the lease tier holds an entry for key, already or once its holder stored
// it: the caller reads key again instead of loading. Otherwise the caller loads and stores the
// value (with Set), then calls release, which frees the lease at once so that waiting instances
// need not wait out its TTL. release is never nil; it does nothing when no lease was taken:
// leases off for s, no tier that keeps leases, a failing lease tier, a wait that reached
// Options.LeaseWait or ctx's end. A holder that dies costs the others one LeaseTTL.
func (c *Cache) Claim(ctx context.Context, key string, s Strategy) (release func(), stored bool) {
	release = func() {}
	if c == nil || key == "" || c.closed.Load() {
		return release, false
	}
	s, err := c.strategy(s)
	if err != nil {
		return release, false
	}
	h := c.newLeaseHold(s, key)
	if h == nil {
		return release, false
	}
	poll := c.newLeasePoll(ctx)
	defer poll.stop()
	for pass := 0; ; pass++ {
		if pass > 0 {
			if hook := testHookLeaseWait; hook != nil && pass == 1 {
				hook(h.keys)
			}
			if !poll.wait(ctx, 1) {
				return release, false
			}
		}
		data, taken, err := c.getOrLease(ctx, h, []int{0})
		switch {
		case err != nil:
			c.leaseEvent(ctx, leaseSkipped, 1)
			return release, false
		case taken[0]:
			return func() { c.releaseLeases(context.WithoutCancel(ctx), h) }, false
		case data[0] != nil:
			if pass > 0 {
				c.leaseEvent(ctx, leaseWaited, 1)
			}
			return release, true
		}
	}
}

// leasePoll paces the polls of a lease another instance holds: the first after leasePollMin,
// then doubling up to leasePollMax, until Options.LeaseWait (or ctx's deadline) has passed.
type leasePoll struct {
	c        *Cache
	deadline time.Time
	delay    time.Duration
	timer    *time.Timer
}

func (c *Cache) newLeasePoll(ctx context.Context) *leasePoll {
	p := &leasePoll{c: c, deadline: time.Now().Add(c.lease.wait), delay: leasePollMin}
	if d, ok := ctx.Deadline(); ok && d.Before(p.deadline) {
		p.deadline = d
	}
	return p
}

// wait sleeps until the next poll of n keys' leases. It reports false when the wait is over
// (LeaseWait reached, counted as timed out, or ctx done): the caller then loads without a lease.
func (p *leasePoll) wait(ctx context.Context, n int) bool {
	wait := time.Until(p.deadline)
	if wait <= 0 {
		p.c.leaseEvent(ctx, leaseTimedOut, n)
		return false
	}
	wait = min(wait, p.delay)
	if p.timer == nil {
		p.timer = time.NewTimer(wait)
	} else {
		p.timer.Reset(wait)
	}
	select {
	case <-p.timer.C:
	case <-ctx.Done():
		return false
	}
	p.delay = min(2*p.delay, leasePollMax)
	return true
}

func (p *leasePoll) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
