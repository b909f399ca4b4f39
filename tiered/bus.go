package tiered

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratacache/strata/internal/busframe"
)

// Bus carries invalidations between the instances of a service, so that their in-process tiers
// stay coherent. The cache gives it opaque messages and receives them back; the transport is the
// implementation's: Redis Pub/Sub (redistier.NewBus), NATS (natsbus), or anything with
// at-most-once broadcast. The cache owns everything else: message encoding, skipping its own
// echoes, applying the changes, and what to do with the in-process tiers when the subscription
// drops (see [BusOptions]).
//
// Ownership: the cache subscribes at New and stops its subscription at Close; the Bus itself, and
// whatever client it uses, stays the caller's to close after the cache.
type Bus interface {
	// Publish sends msg to every subscriber of the bus, the sender's own subscription included.
	// It must return when ctx is done.
	Publish(ctx context.Context, msg []byte) error
	// Subscribe starts delivering the bus's messages to l and returns at once, without waiting
	// for the transport: it reports l.Up when the subscription is confirmed, l.Down when it is
	// lost (and l.Up again when it is back). stop ends the subscription; it returns promptly,
	// whatever the state of the transport, and no method of l is called after it returns.
	Subscribe(l BusListener) (stop func(), err error)
}

// BusListener receives what a [Bus] subscription delivers. A transport calls its methods from one
// goroutine at a time, in the order things happened.
type BusListener interface {
	// Message delivers one message.
	Message(msg []byte)
	// Down reports that the subscription is lost: messages published from now on until the next
	// Up may never arrive. A transport reports each loss once, not every failed reconnection.
	Down(err error)
	// Up reports that the subscription is confirmed: every message published from now on arrives.
	Up()
}

// BusOptions tunes the cache's side of the invalidation bus (Options.Bus). The zero value of every
// field is sensible.
//
// What travels: Set, SetMany and Invalidate send the keys, Update the new value with its
// remaining lifetime, InvalidatePattern the pattern, InvalidateTags the tags (and the keys found
// under them), InvalidateAll a clear. The sender applies the change to every tier itself;
// receivers apply it to their in-process tiers only, since the shared tiers were written once.
//
// # Staleness bound
//
// A bus delivers at most once: a message published while an instance's subscription is down is
// lost to it. So the cache treats a drop as "invalidations may be missed from now on":
//
//   - when the transport reports the drop, the in-process tiers are cleared once;
//   - while the subscription is down, the in-process tiers keep serving what this instance loads
//     and writes, but no entry lives there longer than DownL1TTL: a change made elsewhere in
//     that time is seen at most DownL1TTL late;
//   - when the subscription is confirmed again, they are cleared once more, before any message of
//     the new subscription is handled: nothing stored while messages could be missed survives.
//
// So an in-process entry is never served more than DownL1TTL after a change it missed, plus the
// time the transport takes to notice the drop (for the Redis bus, at most 2 × its
// HealthInterval). Each drop, resubscription and clear is counted in [InvalidationStats].
//
// In short, for a change that returned nil on another instance:
//
//   - bus up: stale until its message arrives (a few milliseconds; the p99 measured with the
//     Redis bus under load in this package's tests is about 0.1 s), then for at most
//     RecheckAfter for a read that raced the message;
//   - bus down: at most DownL1TTL plus the time to notice the drop (immediate when the
//     connection fails, 2 × HealthInterval for the Redis bus when it goes silent): 3 s with the
//     defaults (1 s + 2 × 1 s);
//   - reconnecting: nothing stored while messages could be missed survives the confirmation.
//
// A change that returned an error wrapping ErrBroadcast may not have reached the other
// instances: they keep their copy until it expires or their subscription drops.
//
// With the bus down, the source is spared: L1 is cleared once per drop (not at every failed
// reconnection), so a hot key costs its loader about one call per DownL1TTL.
//
// One race is inherent to cache-aside: a read that fetched the old value from a shared tier just
// before another instance changed it can store that value in L1 just after the invalidation
// arrived. RecheckAfter removes such a copy again shortly afterwards.
type BusOptions struct {
	// InstanceID identifies this cache in its messages (1 to 255 bytes). Empty means a random
	// 16-character hex id. Two caches must never share one: each would ignore the other.
	InstanceID string
	// PublishTimeout bounds each publish. Zero means 250 ms.
	PublishTimeout time.Duration
	// StartTimeout is how long New waits for the subscription to be confirmed. Zero means 2 s;
	// negative does not wait. New never fails because the bus is unreachable: the cache starts
	// as if the subscription had dropped (see DownL1TTL) until it is confirmed.
	StartTimeout time.Duration
	// MaxUpdateSize is the largest encoded value Update sends to the other instances; a larger
	// one is sent as an invalidation of the key, and they read it from the shared tiers when
	// they next need it. Zero means 64 KiB; negative never sends values.
	MaxUpdateSize int
	// RecheckAfter schedules a second pass over the keys of every invalidation and update, this
	// long after it was applied (by receivers, and by the sender when its echo arrives): copies
	// stored in L1 since then are removed again, unless they are the very entry the update
	// stored. Zero means 250 ms; negative disables it. Clears are not rechecked.
	RecheckAfter time.Duration
	// DownL1TTL caps the lifetime of in-process entries written while the subscription is down.
	// Zero means 1 s.
	DownL1TTL time.Duration
}

const (
	defaultBusStartTimeout = 2 * time.Second
	defaultMaxUpdateSize   = 64 << 10
	defaultRecheckAfter    = 250 * time.Millisecond
	defaultDownL1TTL       = time.Second
	busEventQueue          = 1024
)

// ErrBroadcast wraps a failure to publish an invalidation. The change was applied to this
// instance's tiers; other instances may keep their old in-process copy until it expires or their
// subscription drops. Publishes run under a circuit breaker (Options.Breaker's settings): while
// it is open they are not attempted and fail at once with ErrBroadcast.
var ErrBroadcast = errors.New("tiered: invalidation not broadcast")

// InvalidationStats counts the work of the invalidation bus. It is part of [Stats].
type InvalidationStats struct {
	// Sent counts messages published; Failed counts publishes that failed and received messages
	// that could not be applied.
	Sent, Failed uint64
	// Skipped counts publishes not attempted because the bus's circuit breaker was open (they
	// failed at once with ErrBroadcast, and are counted in Failed too); Breaker is that breaker's
	// state now. Publishes share Options.Breaker's settings.
	Skipped uint64
	Breaker BreakerState
	// Received counts messages that arrived, own echoes and malformed ones included.
	Received uint64
	// Applied counts other instances' messages applied to this cache.
	Applied uint64
	// EchoesSkipped counts this cache's own messages coming back, ignored.
	EchoesSkipped uint64
	// Malformed counts messages that could not be decoded (foreign or corrupt), ignored.
	Malformed uint64
	// Drops counts losses of the subscription; Resubscribes the confirmations that followed;
	// L1Clears the times the in-process tiers were cleared (by drops, resubscriptions and
	// clears received).
	Drops, Resubscribes, L1Clears uint64
	// TagOverflow counts entries kept out of the in-process tiers because the in-process tag
	// index was full (see Options.MaxTagEntries).
	TagOverflow uint64
	// Subscribed reports whether the bus is subscribed now (false without a bus).
	Subscribed bool
	// InstanceID is this cache's id on the bus ("" without a bus).
	InstanceID string
}

type invCounters struct {
	sent, failed, received, applied, echoes, malformed, skipped counter
	drops, resubscribes, clears, tagOverflow                    counter
}

func (c *Cache) invalidationStats() InvalidationStats {
	s := InvalidationStats{
		Sent:          c.inv.sent.load(),
		Failed:        c.inv.failed.load(),
		Skipped:       c.inv.skipped.load(),
		Received:      c.inv.received.load(),
		Applied:       c.inv.applied.load(),
		EchoesSkipped: c.inv.echoes.load(),
		Malformed:     c.inv.malformed.load(),
		Drops:         c.inv.drops.load(),
		Resubscribes:  c.inv.resubscribes.load(),
		L1Clears:      c.inv.clears.load(),
		TagOverflow:   c.inv.tagOverflow.load(),
	}
	if c.bus != nil {
		s.Subscribed = c.bus.up.Load()
		s.Breaker = c.bus.br.current()
		s.InstanceID = c.bus.id
	}
	return s
}

// coherence is the cache's side of a bus: it publishes the cache's changes and applies the other
// instances' on one goroutine, which also runs the second passes (RecheckAfter).
type coherence struct {
	c              *Cache
	bus            Bus
	id             string
	publishTimeout time.Duration
	maxUpdate      int
	recheckAfter   time.Duration
	downTTL        int64
	br             breaker // publishes fail fast while it is open

	events chan busEvent
	quit   chan struct{}
	done   chan struct{}
	ready  chan struct{} // closed at the first Up
	stop   func()

	up     atomic.Bool // the subscription is confirmed now
	down   atomic.Bool // the subscription is not confirmed: in-process lifetimes are capped
	closed atomic.Bool

	late   atomic.Bool  // New stopped waiting before the first confirmation
	passes atomic.Int64 // second passes run

	// Owned by the run goroutine.
	everUp  bool
	isDown  bool // a drop was handled and no confirmation followed yet
	pending []recheck
	updates map[string]uint64 // key → number of its latest pending update pass
	seq     uint64

	readyOnce sync.Once
}

type busEvent struct {
	kind uint8 // evMessage, evDown, evUp
	msg  []byte
	err  error
}

const (
	evMessage uint8 = iota
	evDown
	evUp
)

func newCoherence(c *Cache, b Bus, o BusOptions, bo BreakerOptions) (*coherence, error) {
	h := &coherence{
		c:              c,
		bus:            b,
		id:             o.InstanceID,
		publishTimeout: o.PublishTimeout,
		maxUpdate:      o.MaxUpdateSize,
		recheckAfter:   o.RecheckAfter,
		downTTL:        int64(o.DownL1TTL),
		events:         make(chan busEvent, busEventQueue),
		quit:           make(chan struct{}),
		done:           make(chan struct{}),
		ready:          make(chan struct{}),
	}
	switch {
	case len(h.id) > busframe.MaxSenderID:
		return nil, fmt.Errorf("%w: BusOptions.InstanceID is %d bytes, at most %d", ErrInvalidOptions, len(h.id), busframe.MaxSenderID)
	case o.PublishTimeout < 0:
		return nil, fmt.Errorf("%w: BusOptions.PublishTimeout %v is negative", ErrInvalidOptions, o.PublishTimeout)
	case o.DownL1TTL < 0:
		return nil, fmt.Errorf("%w: BusOptions.DownL1TTL %v is negative", ErrInvalidOptions, o.DownL1TTL)
	}
	if h.id == "" {
		var r [8]byte
		_, _ = rand.Read(r[:])
		h.id = hex.EncodeToString(r[:])
	}
	if h.publishTimeout == 0 {
		h.publishTimeout = defaultTierTimeout
	}
	if h.maxUpdate == 0 {
		h.maxUpdate = defaultMaxUpdateSize
	}
	if h.recheckAfter == 0 {
		h.recheckAfter = defaultRecheckAfter
	}
	if h.downTTL == 0 {
		h.downTTL = int64(defaultDownL1TTL)
	}
	h.br.init(bo)
	h.down.Store(true) // until the first confirmation
	return h, nil
}

// start subscribes and waits up to wait for the confirmation (not at all when wait < 0).
func (h *coherence) start(wait time.Duration) error {
	go h.run()
	stop, err := h.bus.Subscribe(listener{h})
	if err != nil {
		close(h.quit)
		<-h.done
		return fmt.Errorf("%w: bus: %w", ErrInvalidOptions, err)
	}
	h.stop = stop
	if wait < 0 {
		h.late.Store(true)
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-h.ready:
	case <-t.C:
		h.late.Store(true)
		h.c.log.Warn("strata: invalidation bus not subscribed yet; continuing", "waited", wait)
	}
	return nil
}

// close ends the subscription and the goroutine.
func (h *coherence) close() {
	if h.closed.Swap(true) {
		return
	}
	close(h.quit) // first: a transport blocked handing over an event is released
	if h.stop != nil {
		h.stop()
	}
	<-h.done
}

// listener is what the transport calls; it queues events for the run goroutine.
type listener struct{ h *coherence }

func (l listener) Message(msg []byte) { l.h.enqueue(busEvent{kind: evMessage, msg: msg}) }
func (l listener) Down(err error)     { l.h.enqueue(busEvent{kind: evDown, err: err}) }
func (l listener) Up()                { l.h.enqueue(busEvent{kind: evUp}) }

func (h *coherence) enqueue(ev busEvent) {
	if ev.kind == evDown {
		// Cap new in-process lifetimes at once, before the event is handled.
		h.down.Store(true)
		h.up.Store(false)
	}
	select {
	case h.events <- ev:
	case <-h.quit:
	}
}

func (h *coherence) run() {
	defer close(h.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := h.runDue()
		if next > 0 {
			timer.Reset(next)
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-h.quit:
			return
		case <-timer.C:
		case ev := <-h.events:
			h.handle(ev)
		}
	}
}

// testHookBusDown, when set by a test, runs on the bus goroutine as a lost subscription is
// handled, after L1 was cleared.
var testHookBusDown func()

func (h *coherence) handle(ev busEvent) {
	c := h.c
	switch ev.kind {
	case evMessage:
		c.receive(ev.msg)
	case evDown:
		if !h.isDown {
			h.isDown = true
			c.inv.drops.inc()
			c.log.Warn("strata: invalidation bus subscription lost; clearing L1 once", "error", ev.err)
			c.clearValueTiers()
			h.pending, h.updates = nil, nil // L1 is empty: nothing left to recheck
			if hook := testHookBusDown; hook != nil {
				hook()
			}
		}
		h.down.Store(true)
		h.up.Store(false)
	case evUp:
		if h.everUp {
			c.inv.resubscribes.inc()
			if !h.isDown {
				c.inv.drops.inc() // the transport reconnected before it reported the loss
			}
		}
		if h.everUp || h.late.Load() {
			// Entries stored while messages could be missed must not survive.
			c.clearValueTiers()
			h.pending, h.updates = nil, nil
			c.log.Info("strata: invalidation bus subscribed; L1 cleared")
		}
		h.everUp, h.isDown = true, false
		h.down.Store(false)
		h.up.Store(true)
		h.readyOnce.Do(func() { close(h.ready) })
	}
}

// publish sends m, under the bus's breaker: while it is open, publish fails at once.
func (h *coherence) publish(ctx context.Context, m *busframe.Message) error {
	tk, ok := h.br.allow()
	if !ok {
		h.c.inv.skipped.inc()
		h.c.inv.failed.inc()
		return fmt.Errorf("%w: %s: %w", ErrBroadcast, m.Kind, errBreakerOpen)
	}
	m.Sender = h.id
	frame := busframe.Encode(m)
	pctx, cancel := context.WithTimeout(ctx, h.publishTimeout)
	defer cancel()
	err := h.bus.Publish(pctx, frame)
	switch {
	case err == nil:
		if h.br.success(tk) {
			h.c.log.Info("strata: invalidation bus publishing again, circuit closed")
		}
		h.c.inv.sent.inc()
		return nil
	case ctx.Err() != nil:
		h.br.abandon(tk) // the caller gave up: nothing learnt about the bus
	default:
		if h.br.failure(tk) {
			h.c.log.Warn("strata: invalidation bus failing, circuit open: publishes fail at once")
		}
	}
	h.c.inv.failed.inc()
	h.c.log.Warn("strata: invalidation not broadcast", "kind", m.Kind.String(), "error", err)
	return fmt.Errorf("%w: %s: %w", ErrBroadcast, m.Kind, err)
}
