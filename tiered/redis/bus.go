package redistier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/busframe"
	"github.com/stratacache/strata/tiered"
)

// BusOptions configures a [Bus]. The zero value of every field is sensible.
type BusOptions struct {
	// Channel is the Pub/Sub channel. Empty means DefaultBusChannel. Instances exchange messages
	// when their channels are equal: give each application (each cache Namespace) its own, for
	// example its namespace followed by DefaultBusChannel.
	Channel string
	// HealthInterval is how long the subscription may stay idle before it is pinged; a ping not
	// answered within another HealthInterval counts as a dropped subscription. Zero means 1 s.
	// A drop is noticed at once when the connection fails or is closed (a killed client, a
	// restarted server), and after at most 2 × HealthInterval when it goes silent (a frozen
	// server, a lost route): that is the bus's share of the staleness bound (see
	// tiered.BusOptions).
	HealthInterval time.Duration
	// AuditStream, when set, names a Redis stream to which every message this bus publishes is
	// appended with XADD MAXLEN ~ AuditMaxLen: fields "kind", "sender", "at" (Unix milliseconds)
	// and, by kind, "keys" or "tags" (JSON arrays) or "pattern".
	AuditStream string
	// AuditMaxLen trims the audit stream to about this many entries. Zero means 10,000.
	AuditMaxLen int64
}

// DefaultBusChannel is the channel of a Bus built with an empty BusOptions.Channel.
const DefaultBusChannel = "strata:invalidate"

const (
	defaultHealthInterval = time.Second
	defaultAuditMaxLen    = 10_000
	busMaxBackoff         = time.Second
)

// Bus is a tiered.Bus over Redis Pub/Sub: PUBLISH to send, one SUBSCRIBE connection per cache to
// receive. A Cluster client works (PUBLISH reaches every node). The client stays the caller's to
// close, after the caches that use the bus.
type Bus struct {
	client   redis.UniversalClient
	channel  string
	health   time.Duration
	audit    string
	auditMax int64
	honours  bool
}

// NewBus builds a Bus on client. Give the client ContextTimeoutEnabled so that publishes honour
// their deadline directly; without it each publish runs on a goroutine of its own so that the
// deadline still bounds the caller.
func NewBus(client redis.UniversalClient, o BusOptions) (*Bus, error) {
	honours, err := checkClient(client)
	if err != nil {
		return nil, err
	}
	switch {
	case o.HealthInterval < 0:
		return nil, fmt.Errorf("%w: HealthInterval %v is negative", tiered.ErrInvalidOptions, o.HealthInterval)
	case o.AuditMaxLen < 0:
		return nil, fmt.Errorf("%w: AuditMaxLen %d is negative", tiered.ErrInvalidOptions, o.AuditMaxLen)
	}
	b := &Bus{client: client, channel: o.Channel, health: o.HealthInterval, audit: o.AuditStream, auditMax: o.AuditMaxLen, honours: honours}
	if b.channel == "" {
		b.channel = DefaultBusChannel
	}
	if b.health == 0 {
		b.health = defaultHealthInterval
	}
	if b.auditMax == 0 {
		b.auditMax = defaultAuditMaxLen
	}
	return b, nil
}

// Channel returns the bus's Pub/Sub channel.
func (b *Bus) Channel() string { return b.channel }

// Publish sends msg on the channel and, when configured, appends it to the audit stream.
func (b *Bus) Publish(ctx context.Context, msg []byte) error {
	return guard(ctx, b.honours, func(ctx context.Context) error {
		if err := b.client.Publish(ctx, b.channel, msg).Err(); err != nil {
			return fmt.Errorf("redistier: PUBLISH: %w", err)
		}
		if b.audit != "" {
			b.appendAudit(ctx, msg)
		}
		return nil
	})
}

// appendAudit records a published message in the audit stream. A failure is not the publish's.
func (b *Bus) appendAudit(ctx context.Context, msg []byte) {
	m, err := busframe.Decode(msg)
	if err != nil {
		return
	}
	fields := map[string]any{"kind": m.Kind.String(), "sender": m.Sender, "at": time.Now().UnixMilli()}
	switch m.Kind {
	case busframe.Keys:
		fields["keys"] = jsonList(m.Keys)
	case busframe.Update:
		fields["keys"] = jsonList([]string{m.Key})
	case busframe.Pattern:
		fields["pattern"] = m.Pattern
	case busframe.Tags:
		fields["tags"] = jsonList(m.Tags)
	}
	a := &redis.XAddArgs{Stream: b.audit, Values: fields, MaxLen: b.auditMax, Approx: true}
	_ = b.client.XAdd(ctx, a).Err()
}

func jsonList(l []string) string {
	out, _ := json.Marshal(l)
	return string(out)
}

// Subscribe starts a subscription for l on a goroutine of its own and returns at once.
func (b *Bus) Subscribe(l tiered.BusListener) (stop func(), err error) {
	if l == nil {
		return nil, fmt.Errorf("%w: nil listener", tiered.ErrInvalidOptions)
	}
	s := &subscription{b: b, l: l, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s.stop, nil
}

// testHookBusError, when set by a test, runs in the subscription goroutine after a subscription
// error and before the next attempt to read, so that a test can act while the subscription is
// down.
var testHookBusError func()

// stopWait bounds how long stop waits for the subscription goroutine to end.
const stopWait = time.Second

// subscription is one Subscribe: a goroutine reading a PubSub.
type subscription struct {
	b      *Bus
	l      tiered.BusListener
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards ps and stopped; held while l is called
	ps      *redis.PubSub
	stopped bool
}

// stop ends the subscription. It returns once the goroutine has ended, or after stopWait if the
// goroutine is stuck in the client (a frozen server): it ends on its own later, and never calls
// the listener again.
func (s *subscription) stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.cancel()
	ps := s.ps
	s.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	}
}

// emit calls fn (a method of the listener) unless the subscription is stopped.
func (s *subscription) emit(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	fn()
	return true
}

// run reads the subscription until stop.
//
// Detecting a drop: go-redis hides reconnections. When a read on the subscription fails with a
// connection error, PubSub.ReceiveTimeout returns that error once, and go-redis closes the
// connection, dials a new one and writes SUBSCRIBE again; the server's confirmation then comes
// back as a *redis.Subscription. So every confirmation after the first proves that the
// connection was replaced, whether or not this goroutine saw the error. A connection that fails
// silently (a frozen server, a lost route) never errors: an idle subscription is pinged every
// HealthInterval, and a read timeout with a ping still unanswered replaces the PubSub outright.
func (s *subscription) run() {
	defer close(s.done)
	ps := s.open()
	if ps == nil {
		return
	}
	var (
		down       bool // a loss was reported and no confirmation followed
		pinged     bool // a ping is waiting for its answer
		errorsSeen int  // consecutive errors, for the backoff
	)
	drop := func(err error) {
		if !down {
			down = true
			s.emit(func() { s.l.Down(err) })
		}
	}
	for {
		msg, err := ps.ReceiveTimeout(s.ctx, s.b.health)
		if s.ctx.Err() != nil {
			_ = ps.Close()
			return
		}
		if err != nil {
			if isTimeout(err) && !down {
				if !pinged {
					pinged = true
					if perr := ps.Ping(s.ctx); perr == nil {
						continue
					}
				}
				// The ping went unanswered for a whole interval (or could not be sent): the
				// connection is dead but may not know it. Replace it.
				drop(err)
				pinged = false
				if ps = s.replace(ps); ps == nil {
					return
				}
				continue
			}
			drop(err)
			pinged = false
			if isTimeout(err) && errorsSeen%5 == 4 {
				// Still silent after several intervals on a connection that never confirmed
				// the subscription: start over on a new one.
				if ps = s.replace(ps); ps == nil {
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
				case <-s.ctx.Done():
					_ = ps.Close()
					return
				}
			}
			continue
		}
		errorsSeen = 0
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.b.channel {
				down = false
				s.emit(s.l.Up)
			}
		case *redis.Message:
			payload := []byte(m.Payload)
			s.emit(func() { s.l.Message(payload) })
		}
	}
}

// open subscribes on a new PubSub and records it for stop; nil once stopped. Subscribing dials
// and may wait on an unresponsive server (up to the client's DialTimeout and ReadTimeout), which
// is why it runs on the subscription's goroutine and outside the lock.
func (s *subscription) open() *redis.PubSub {
	ps := s.b.client.Subscribe(s.ctx, s.b.channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		_ = ps.Close()
		return nil
	}
	s.ps = ps
	return ps
}

// replace closes ps and subscribes on a new PubSub, which it returns (nil once stopped).
func (s *subscription) replace(ps *redis.PubSub) *redis.PubSub {
	_ = ps.Close()
	return s.open()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
