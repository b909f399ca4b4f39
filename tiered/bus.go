package tiered

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// BusOptions enables the invalidation bus: Redis Pub/Sub between the instances of a service that
// share Redis, keeping their in-process tiers coherent. Set Options.Bus to a non-nil value (even
// &BusOptions{}) to enable it; the zero value of every field is sensible.
//
// What travels: Invalidate sends the keys, Update and SetWithBroadcast the new value with its
// remaining lifetime, InvalidatePattern the pattern, InvalidateTags the tags (and the keys found
// under them), InvalidateAll a clear of the namespace. The sender applies the change to every tier
// itself; receivers apply it to their in-process tiers only, since the shared tiers were already
// written once. A sender skips its own echo.
//
// # Staleness bound
//
// Pub/Sub delivers at most once: a message published while an instance's subscription is down is
// lost to it. The bus therefore treats every drop as "invalidations may have been missed" and
// clears the in-process tiers (every value tier that implements [Clearer]; the embedded otter L1
// does):
//
//   - when it notices the drop: at once when the connection fails or is closed (a killed client,
//     a restarted server), or after at most 2 × HealthInterval when the connection goes silent
//     (an idle subscription is pinged every HealthInterval and is declared dead when the ping gets
//     no answer within another HealthInterval);
//   - at every failed attempt to reconnect (at most one second apart, plus however long the
//     client takes to give up on an attempt: its DialTimeout and ReadTimeout), so that nothing
//     loaded while the bus is down is served for long;
//   - when the subscription is confirmed again, before any message of the new connection is
//     handled, so nothing written to L1 before the resubscription survives it.
//
// So an in-process entry is never served more than about 2 × HealthInterval (2 s by default) after
// a change it missed — plus, while the server stays unreachable, the client's DialTimeout and
// ReadTimeout per reconnection attempt — and only while the bus is down or not yet known to be
// down. A client of its own for the bus with short timeouts (say 500 ms each) keeps the bound
// tight. Each drop,
// resubscription and clear is counted in [InvalidationStats].
//
// One race is inherent to cache-aside: a read that fetched the old value from Redis just before
// another instance changed it can store that value in L1 just after the invalidation arrived.
// RecheckAfter removes such a copy again shortly afterwards; a read slower than RecheckAfter
// between its fetch and its store could still leave one, bounded by the entry's TTL.
type BusOptions struct {
	// Client carries the Pub/Sub subscription and the published messages. A Cluster client works
	// (PUBLISH reaches every node). Its DialTimeout and ReadTimeout bound each reconnection
	// attempt and so enter the staleness bound. Nil means the client of the first byte tier that exposes one
	// through a Client() redis.UniversalClient method, as the redis tier does. Give it
	// ContextTimeoutEnabled so that PublishTimeout is honoured. The client stays the caller's to
	// close, after the cache.
	Client redis.UniversalClient
	// Channel is the Pub/Sub channel, prefixed with Options.Namespace. Empty means
	// DefaultBusChannel. Instances exchange messages when their namespaced channels are equal.
	Channel string
	// InstanceID identifies this cache in its messages (1 to 255 bytes). Empty means a random
	// 16-character hex id. Two caches must never share one: each would ignore the other.
	InstanceID string
	// PublishTimeout bounds each PUBLISH (and audit XADD). Zero means DefaultTierTimeout.
	PublishTimeout time.Duration
	// HealthInterval is how long the subscription may stay idle before it is pinged; a ping not
	// answered within another HealthInterval counts as a dropped subscription. Zero means
	// DefaultBusHealthInterval. It sets the staleness bound (see above).
	HealthInterval time.Duration
	// StartTimeout is how long New waits for the subscription to be confirmed. Zero means
	// DefaultBusStartTimeout; negative does not wait. New never fails because Redis is down: if
	// the subscription comes later, L1 is cleared when it does.
	StartTimeout time.Duration
	// AuditStream, when set, names a Redis stream (prefixed with Options.Namespace) to which every
	// invalidation this instance sends is appended with XADD MAXLEN ~ AuditMaxLen: fields "kind",
	// "sender", "at" (Unix milliseconds) and, by kind, "keys" or "tags" (JSON arrays) or
	// "pattern".
	AuditStream string
	// AuditMaxLen trims the audit stream to about this many entries. Zero means
	// DefaultAuditMaxLen.
	AuditMaxLen int64
	// MaxUpdateSize is the largest encoded value Update sends to the other instances; a larger
	// one is sent as an invalidation of the key, and they read it from the shared tiers when
	// they next need it. Redis buffers every message for every subscriber (and disconnects
	// subscribers that fall behind: client-output-buffer-limit pubsub), so large values are
	// better not broadcast. Zero means DefaultMaxUpdateSize; negative never sends values.
	MaxUpdateSize int
	// RecheckAfter schedules a second pass over the keys of every invalidation and update, this
	// long after it was applied (by receivers, and by the sender when its echo arrives): copies
	// stored in L1 since then are removed again, unless they are the very entry the update
	// stored. It closes the race described above for every read that stores its result within
	// RecheckAfter, at the price of an occasional extra miss. Zero means DefaultRecheckAfter
	// (250 ms, the default tier Timeout); negative disables it. Clears are not rechecked.
	RecheckAfter time.Duration
}

// Bus defaults.
const (
	DefaultBusChannel        = "strata:invalidate"
	DefaultBusHealthInterval = time.Second
	DefaultBusStartTimeout   = 2 * time.Second
	DefaultAuditMaxLen       = 10_000
	DefaultMaxUpdateSize     = 64 << 10
	DefaultRecheckAfter      = 250 * time.Millisecond
	busMaxBackoff            = time.Second
)

// ErrBroadcast wraps a failure to publish an invalidation. The change was applied to this
// instance's tiers; other instances may keep their old in-process copy until it expires or their
// subscription drops.
var ErrBroadcast = errors.New("tiered: invalidation not broadcast")

// InvalidationStats counts the work of the invalidation bus and of the Invalidate family. It is
// returned by [Cache.InvalidationStats] and included in [Stats].
type InvalidationStats struct {
	// Local counts invalidation calls made on this cache: Invalidate, Update, SetWithBroadcast,
	// InvalidatePattern, InvalidateTags and InvalidateAll.
	Local uint64
	// Sent counts messages published; Failed counts publishes that failed and received messages
	// that could not be applied.
	Sent, Failed uint64
	// Received counts messages that arrived on the channel, own echoes and malformed ones included.
	Received uint64
	// Applied counts other instances' messages applied to this cache.
	Applied uint64
	// EchoesSkipped counts this cache's own messages coming back, ignored.
	EchoesSkipped uint64
	// Malformed counts messages that could not be decoded (foreign or corrupt), ignored.
	Malformed uint64
	// Drops counts detected losses of the subscription; Resubscribes the confirmations that
	// followed; L1Clears the times the in-process tiers were cleared because of them.
	Drops, Resubscribes, L1Clears uint64
	// TagOverflow counts entries dropped from the in-process tiers because the in-process tag
	// index was full (see Options.MaxTagEntries).
	TagOverflow uint64
	// Subscribed reports whether the bus is subscribed now (false without a bus).
	Subscribed bool
	// InstanceID is this cache's id on the bus ("" without a bus).
	InstanceID string
}

type invCounters struct {
	local, sent, failed, received, applied, echoes, malformed atomic.Uint64
	drops, resubscribes, clears, tagOverflow                  atomic.Uint64
}

// InvalidationStats returns a snapshot of the invalidation counters.
func (c *Cache) InvalidationStats() InvalidationStats {
	s := InvalidationStats{
		Local:         c.inv.local.Load(),
		Sent:          c.inv.sent.Load(),
		Failed:        c.inv.failed.Load(),
		Received:      c.inv.received.Load(),
		Applied:       c.inv.applied.Load(),
		EchoesSkipped: c.inv.echoes.Load(),
		Malformed:     c.inv.malformed.Load(),
		Drops:         c.inv.drops.Load(),
		Resubscribes:  c.inv.resubscribes.Load(),
		L1Clears:      c.inv.clears.Load(),
		TagOverflow:   c.inv.tagOverflow.Load(),
	}
	if c.bus != nil {
		s.Subscribed = c.bus.subscribed.Load()
		s.InstanceID = c.bus.id
	}
	return s
}

// bus is the running invalidation bus of a cache: one goroutine reading the subscription.
type bus struct {
	c              *Cache
	client         redis.UniversalClient
	channel        string
	id             string
	publishTimeout time.Duration
	health         time.Duration
	audit          string
	auditMax       int64
	maxUpdate      int
	recheckAfter   time.Duration
	pending        []recheck         // second passes, oldest first; owned by the run goroutine
	updates        map[string]uint64 // key → number of its latest pending update pass
	updateSeq      uint64

	ctx        context.Context
	cancel     context.CancelFunc
	mu         sync.Mutex // guards ps replacement against Close
	ps         *redis.PubSub
	done       chan struct{}
	ready      chan struct{}
	late       atomic.Bool // New stopped waiting before the first confirmation
	subscribed atomic.Bool
}

// testHookBusError, when set by a test, runs in the bus goroutine after a subscription error and
// before the next attempt to read, so that a test can act while the subscription is down.
var testHookBusError func()

// newBus validates o and resolves its defaults; start launches it.
func newBus(c *Cache, o *BusOptions) (*bus, error) {
	b := &bus{
		c:              c,
		client:         o.Client,
		channel:        c.namespace + o.Channel,
		id:             o.InstanceID,
		publishTimeout: o.PublishTimeout,
		health:         o.HealthInterval,
		audit:          o.AuditStream,
		auditMax:       o.AuditMaxLen,
		maxUpdate:      o.MaxUpdateSize,
		recheckAfter:   o.RecheckAfter,
	}
	if b.recheckAfter == 0 {
		b.recheckAfter = DefaultRecheckAfter
	}
	if b.maxUpdate == 0 {
		b.maxUpdate = DefaultMaxUpdateSize
	}
	if o.Channel == "" {
		b.channel = c.namespace + DefaultBusChannel
	}
	if b.client == nil {
		for _, t := range c.tiers {
			if cl, ok := t.bb.(interface{ Client() redis.UniversalClient }); ok {
				b.client = cl.Client()
				break
			}
		}
		if b.client == nil {
			return nil, fmt.Errorf("%w: Bus needs a Client (no byte tier exposes one)", ErrInvalidOptions)
		}
	}
	switch {
	case len(b.id) > maxInstanceID:
		return nil, fmt.Errorf("%w: Bus.InstanceID is %d bytes, at most %d", ErrInvalidOptions, len(b.id), maxInstanceID)
	case o.PublishTimeout < 0 || o.HealthInterval < 0:
		return nil, fmt.Errorf("%w: Bus timeouts must not be negative", ErrInvalidOptions)
	case o.AuditMaxLen < 0:
		return nil, fmt.Errorf("%w: Bus.AuditMaxLen %d is negative", ErrInvalidOptions, o.AuditMaxLen)
	}
	if b.id == "" {
		var r [8]byte
		_, _ = rand.Read(r[:])
		b.id = hex.EncodeToString(r[:])
	}
	if b.publishTimeout == 0 {
		b.publishTimeout = DefaultTierTimeout
	}
	if b.health == 0 {
		b.health = DefaultBusHealthInterval
	}
	if b.audit != "" {
		b.audit = c.namespace + b.audit
		if b.auditMax == 0 {
			b.auditMax = DefaultAuditMaxLen
		}
	}
	return b, nil
}

// start subscribes, launches the reading goroutine and waits up to wait for the subscription.
func (b *bus) start(wait time.Duration) {
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.done = make(chan struct{})
	b.ready = make(chan struct{})
	b.ps = b.client.Subscribe(b.ctx, b.channel)
	go b.run()
	if wait < 0 {
		b.late.Store(true)
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-b.ready:
	case <-t.C:
		b.late.Store(true)
		b.c.log.Warn("strata: invalidation bus not subscribed yet; continuing", "channel", b.channel, "waited", wait)
	}
}

// close stops the goroutine and releases the subscription.
func (b *bus) close() {
	b.cancel()
	b.mu.Lock()
	_ = b.ps.Close()
	b.mu.Unlock()
	<-b.done
}

// run reads the subscription until close. See BusOptions for how drops are handled.
//
// Detecting a drop: go-redis hides reconnections. When a read on the subscription fails with a
// connection error, PubSub.ReceiveTimeout returns that error once, and go-redis (releaseConn →
// reconnect) closes the connection, dials a new one and writes SUBSCRIBE again; the server's
// confirmation then comes back through ReceiveTimeout as a *redis.Subscription. The same happens
// when a Ping finds the connection broken. So the first confirmation is the start, and every
// later one proves that the connection was replaced, whether or not this goroutine saw the
// error. A connection that fails silently (a frozen server, a lost route) never errors: an idle
// subscription is pinged every HealthInterval, and a read timeout with a ping still unanswered
// replaces the PubSub outright.
func (b *bus) run() {
	defer close(b.done)
	var (
		confirmed  bool // a subscription was confirmed before
		down       bool // the subscription is known to be down
		pinged     bool // a ping is waiting for its answer
		errorsSeen int  // consecutive errors, for the backoff
	)
	b.mu.Lock()
	ps := b.ps
	b.mu.Unlock()
	drop := func(reason string, err error) {
		if !down {
			down = true
			b.subscribed.Store(false)
			b.c.inv.drops.Add(1)
			b.c.log.Warn("strata: invalidation bus subscription lost; clearing L1", "reason", reason, "error", err)
		}
		b.c.clearValueTiers(b.ctx)
		b.pending, b.updates = nil, nil // L1 is empty: nothing left to recheck
	}
	for {
		wait, short := b.health, false
		if next := b.runDue(); next > 0 && next < wait {
			wait, short = next, true
		}
		msg, err := ps.ReceiveTimeout(b.ctx, wait)
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) && short && !down {
				continue // a second pass is due, not a sign of a dead connection
			}
			if isTimeout(err) && !down {
				if !pinged {
					pinged = true
					if perr := ps.Ping(b.ctx); perr == nil {
						continue
					}
				}
				// The ping went unanswered for a whole interval (or could not be sent): the
				// connection is dead but may not know it. Replace it.
				drop("no answer to ping", err)
				pinged = false
				if ps = b.replace(ps); ps == nil {
					return
				}
				continue
			}
			drop("subscription error", err)
			pinged = false
			if isTimeout(err) && errorsSeen%5 == 4 {
				// Still silent after several intervals on a connection that never confirmed
				// the subscription: start over on a new one.
				if ps = b.replace(ps); ps == nil {
					return
				}
			}
			if h := testHookBusError; h != nil {
				h()
			}
			if errorsSeen++; errorsSeen > 1 {
				d := min(time.Duration(errorsSeen-1)*100*time.Millisecond, busMaxBackoff)
				select {
				case <-time.After(d):
				case <-b.ctx.Done():
					return
				}
			}
			continue
		}
		errorsSeen = 0
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" || m.Channel != b.channel {
				continue
			}
			if confirmed || b.late.Load() {
				if confirmed {
					if !down {
						b.c.inv.drops.Add(1) // go-redis reconnected before this goroutine saw an error
					}
					b.c.inv.resubscribes.Add(1)
				}
				b.c.clearValueTiers(b.ctx)
				b.c.log.Info("strata: invalidation bus subscribed again; L1 cleared", "channel", b.channel)
			}
			b.late.Store(false)
			down = false
			b.subscribed.Store(true)
			if !confirmed {
				confirmed = true
				close(b.ready)
			}
		case *redis.Message:
			b.c.receive(b.ctx, m.Payload)
		}
	}
}

// replace closes ps and subscribes on a new PubSub, which it returns (nil once the bus is
// closing).
func (b *bus) replace(ps *redis.PubSub) *redis.PubSub {
	_ = ps.Close()
	// Subscribing dials and may wait on an unresponsive server (up to the client's DialTimeout
	// and ReadTimeout), so it runs outside the lock that Close takes.
	np := b.client.Subscribe(b.ctx, b.channel)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		_ = np.Close()
		return nil
	}
	b.ps = np
	return np
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// publish sends m, and appends it to the audit stream when configured.
func (b *bus) publish(ctx context.Context, m *busMessage) error {
	m.sender = b.id
	frame := encodeBusMessage(m)
	pctx, cancel := context.WithTimeout(ctx, b.publishTimeout)
	defer cancel()
	// The publish runs on its own goroutine so that PublishTimeout bounds the caller even with a
	// client that does not honour context deadlines (no ContextTimeoutEnabled).
	done := make(chan error, 1)
	go func() { done <- b.send(pctx, m, frame) }()
	var err error
	select {
	case err = <-done:
	case <-pctx.Done():
		err = pctx.Err()
	}
	if err != nil {
		b.c.inv.failed.Add(1)
		b.c.log.Warn("strata: invalidation not broadcast", "kind", m.kind.String(), "error", err)
		return fmt.Errorf("%w: %s: %w", ErrBroadcast, m.kind, err)
	}
	b.c.inv.sent.Add(1)
	return nil
}

// send publishes frame and, when configured, appends m to the audit stream.
func (b *bus) send(pctx context.Context, m *busMessage, frame []byte) error {
	if err := b.client.Publish(pctx, b.channel, frame).Err(); err != nil {
		return err
	}
	if b.audit != "" {
		fields := map[string]any{"kind": m.kind.String(), "sender": b.id, "at": time.Now().UnixMilli()}
		switch m.kind {
		case kindKeys:
			fields["keys"] = jsonList(m.keys)
		case kindUpdate:
			fields["keys"] = jsonList([]string{m.key})
		case kindPattern:
			fields["pattern"] = m.pattern
		case kindTags:
			fields["tags"] = jsonList(m.tags)
		}
		a := &redis.XAddArgs{Stream: b.audit, Values: fields, MaxLen: b.auditMax, Approx: true}
		if err := b.client.XAdd(pctx, a).Err(); err != nil {
			b.c.log.Warn("strata: invalidation not audited", "stream", b.audit, "error", err)
		}
	}
	return nil
}

func jsonList(l []string) string {
	b, _ := json.Marshal(l)
	return string(b)
}

// receive handles one message from the channel.
func (c *Cache) receive(ctx context.Context, payload string) {
	c.inv.received.Add(1)
	m, err := decodeBusMessage([]byte(payload))
	if err != nil {
		c.inv.malformed.Add(1)
		c.log.Debug("strata: ignoring malformed bus message", "error", err)
		return
	}
	if m.sender == c.bus.id {
		c.inv.echoes.Add(1)
		// The sender's own reads can race with its change too: give them the second pass.
		switch m.kind {
		case kindKeys, kindTags:
			c.bus.schedule(recheck{keys: m.keys})
		case kindPattern:
			c.bus.schedule(recheck{pattern: m.pattern})
		}
		return
	}
	rc, err := c.apply(ctx, m)
	if err != nil {
		c.inv.failed.Add(1)
		c.log.Warn("strata: bus message not applied", "kind", m.kind.String(), "error", err)
	} else {
		c.inv.applied.Add(1)
	}
	c.bus.schedule(rc)
}

// schedule queues a second pass RecheckAfter from now. Only the bus goroutine calls it.
func (b *bus) schedule(rc recheck) {
	if b.recheckAfter <= 0 || rc.empty() {
		return
	}
	rc.at = time.Now().Add(b.recheckAfter)
	if rc.key != "" {
		if b.updates == nil {
			b.updates = make(map[string]uint64)
		}
		b.updateSeq++
		rc.seq = b.updateSeq
		b.updates[rc.key] = rc.seq
	}
	b.pending = append(b.pending, rc)
}

// runDue performs the second passes whose time has come and returns how long until the next one
// (0 when none is pending).
func (b *bus) runDue() time.Duration {
	now := time.Now()
	n := 0
	for n < len(b.pending) && !b.pending[n].at.After(now) {
		b.pending[n].run(b.c)
		b.pending[n] = recheck{}
		n++
	}
	if n > 0 {
		b.pending = b.pending[n:]
		if len(b.pending) == 0 {
			b.pending = nil // let the backing array go
		}
	}
	if len(b.pending) == 0 {
		return 0
	}
	return max(b.pending[0].at.Sub(now), time.Millisecond)
}
