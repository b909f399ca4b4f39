package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stratacache/strata/tiered"
)

// stopWait bounds how long stop waits for the subscription goroutine to end.
const stopWait = time.Second

// msgBuffer is how many messages a subscription holds while its listener is busy. nats.go drops
// the messages that arrive while it is full, and the bus reports the loss (Down, then Up).
var msgBuffer = 8192

// Subscribe starts a subscription for l on a goroutine of its own and returns at once.
func (b *Bus) Subscribe(l tiered.BusListener) (stop func(), err error) {
	if l == nil {
		return nil, fmt.Errorf("%w: natsbus: nil listener", tiered.ErrInvalidOptions)
	}
	if b.nc.IsClosed() {
		return nil, fmt.Errorf("%w: natsbus: %w", tiered.ErrInvalidOptions, nats.ErrConnectionClosed)
	}
	s := &subscription{b: b, l: l, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s.stop, nil
}

// subscription is one Subscribe: a goroutine that hands the listener the messages, the changes of
// the connection's status and the results of its health checks, one at a time.
type subscription struct {
	b      *Bus
	l      tiered.BusListener
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards stopped; held while l is called
	stopped bool
}

// stop ends the subscription. It returns once the goroutine has ended, or after stopWait if the
// goroutine is held by nats.go (a connection whose socket does not drain): it ends on its own
// later, and never calls the listener again.
func (s *subscription) stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.cancel()
	s.mu.Unlock()
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	}
}

// emit calls fn (a method of the listener) unless the subscription is stopped.
func (s *subscription) emit(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		fn()
	}
}

// probeResult is the answer to one health check.
type probeResult struct {
	err        error
	reconnects uint64 // the connection's reconnection count when the check started
}

// watch is the state of one subscription, owned by its goroutine.
type watch struct {
	s          *subscription
	nc         *nats.Conn
	sub        *nats.Subscription
	up         bool   // Up was reported and no Down since
	everUp     bool   // Up was reported once
	reconnects uint64 // the connection's reconnection count last seen
	dropped    int    // the messages nats.go dropped, last seen
	probing    bool   // a health check is on its way
	probes     chan probeResult
}

// run subscribes and serves the subscription until stop.
//
// Everything that can cost messages reports Down once (when Up was the last thing reported): a
// status change of the connection away from CONNECTED, a reconnection noticed only through the
// connection's counter (status events can be dropped when they come in a burst), a health check
// not answered in time, messages dropped by nats.go. Up follows a health check answered on a
// connected connection that was not replaced while it ran: the server has then processed the
// subscription (which nats.go sends again on every reconnection, before anything else).
func (s *subscription) run() {
	defer close(s.done)
	nc := s.b.nc
	status := nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(status)
	msgs := make(chan *nats.Msg, msgBuffer)
	w := &watch{s: s, nc: nc, probes: make(chan probeResult, 1), reconnects: nc.Stats().Reconnects}
	sub, err := nc.ChanSubscribe(s.b.subject, msgs)
	if err != nil {
		// The connection was closed since Subscribe checked it: nothing will ever arrive.
		<-s.ctx.Done()
		return
	}
	w.sub = sub
	defer func() { _ = sub.Unsubscribe() }()

	tick := time.NewTicker(s.b.health)
	defer tick.Stop()
	w.probe()
	for {
		select {
		case <-s.ctx.Done():
			return
		case m := <-msgs:
			w.checkDropped()
			data := m.Data
			s.emit(func() { s.l.Message(data) })
		case st := <-status:
			if st != nats.CONNECTED {
				w.lose(connectionError(nc, st))
				continue
			}
			w.checkReplaced()
			w.probe()
		case r := <-w.probes:
			w.probing = false
			w.answered(r)
		case <-tick.C:
			w.checkReplaced()
			w.checkDropped()
			w.probe()
		}
	}
}

// lose reports Down, unless the loss was reported already.
func (w *watch) lose(err error) {
	if w.up {
		w.up = false
		w.s.emit(func() { w.s.l.Down(err) })
	}
}

// checkReplaced reports a loss when the connection was replaced since it was last seen.
func (w *watch) checkReplaced() {
	if r := w.nc.Stats().Reconnects; r != w.reconnects {
		w.reconnects = r
		w.lose(errors.New("natsbus: the connection was replaced"))
	}
}

// checkDropped reports a loss when nats.go dropped messages of the subscription, and checks it
// again at once.
func (w *watch) checkDropped() {
	n, err := w.sub.Dropped()
	if err != nil || n == w.dropped {
		return
	}
	lost := n - w.dropped
	w.dropped = n
	w.lose(fmt.Errorf("natsbus: %d messages dropped while the cache was busy: %w", lost, nats.ErrSlowConsumer))
	w.probe()
}

// probe starts a health check unless one is on its way: a PING, answered within HealthInterval.
func (w *watch) probe() {
	if w.probing {
		return
	}
	w.probing = true
	from := w.nc.Stats().Reconnects
	ctx, health := w.s.ctx, w.s.b.health
	go func() {
		ctx, cancel := context.WithTimeout(ctx, health)
		defer cancel()
		w.probes <- probeResult{err: w.nc.FlushWithContext(ctx), reconnects: from}
	}()
}

// answered handles the result of a health check.
func (w *watch) answered(r probeResult) {
	if r.err != nil {
		if w.s.ctx.Err() == nil {
			w.lose(fmt.Errorf("natsbus: no answer from the server within %v: %w", w.s.b.health, r.err))
		}
		return
	}
	w.checkReplaced()
	if r.reconnects != w.reconnects || w.nc.Status() != nats.CONNECTED {
		// The connection changed while the check ran: check the new one.
		w.probe()
		return
	}
	if !w.up {
		if w.everUp {
			// Messages dropped until now were published before this confirmation, and the
			// listener makes up for everything before a confirmation that follows a loss: only
			// later drops are a new loss.
			if n, err := w.sub.Dropped(); err == nil {
				w.dropped = n
			}
		}
		w.up, w.everUp = true, true
		w.s.emit(w.s.l.Up)
	}
}

// connectionError describes a connection that left the CONNECTED state.
func connectionError(nc *nats.Conn, st nats.Status) error {
	base := nats.ErrDisconnected
	if st == nats.CLOSED {
		base = nats.ErrConnectionClosed
	}
	if last := nc.LastError(); last != nil {
		return fmt.Errorf("natsbus: connection %s (%v): %w", strings.ToLower(st.String()), last, base)
	}
	return fmt.Errorf("natsbus: connection %s: %w", strings.ToLower(st.String()), base)
}
