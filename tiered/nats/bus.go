// Package natsbus is strata's invalidation bus over NATS core publish/subscribe, on nats.go. The
// folder is tiered/nats; the package is named natsbus so it does not clash with nats.go.
//
// A [Bus] implements tiered.Bus on a *nats.Conn that the caller connects, configures and closes:
// it publishes the cache's messages on one subject and gives each cache a subscription of its
// own. The cache encodes the messages, skips its own echoes and decides what to do with its
// in-process tiers when the subscription drops (see tiered.BusOptions); the bus carries bytes and
// reports drops and recoveries.
//
// # Drops and recoveries
//
// NATS core delivers at most once, so the bus reports every moment when messages may have been
// missed as a lost subscription (tiered.BusListener.Down), once per loss, and the moment the
// subscription is live again (Up), which is confirmed by a round trip to the server:
//
//   - the connection is lost (nats.go starts reconnecting, or closes the connection): Down at
//     once; Up after nats.go has reconnected and resent the subscription, and a PING sent after
//     it was answered. Failed reconnection attempts in between report nothing more;
//   - the connection goes silent (a frozen server, a lost route): the bus sends a PING every
//     HealthInterval and reports Down when one stays unanswered for a whole HealthInterval, so
//     within 2 × HealthInterval; Up when a PING is answered again. How soon nats.go itself gives
//     up on such a connection and reconnects is the connection's PingInterval and MaxPingsOut;
//   - the subscription drops messages because the cache fell behind a burst (a slow consumer, in
//     NATS terms): Down, then Up once a round trip confirms the subscription.
//
// The bus leaves the connection's handlers (DisconnectErrHandler, ReconnectHandler, ClosedHandler)
// to the caller: it follows the connection through nats.go's status listeners and its
// reconnection count.
//
// Connect with reconnection on (nats.go's default) and, so that a cache can start while the
// server is down, nats.RetryOnFailedConnect(true); give MaxReconnects(-1) to never give up. The
// connection must not use nats.NoEcho: a cache needs its own messages back.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stratacache/strata/tiered"
)

// DefaultSubject is the subject of a Bus built with an empty Options.Subject.
const DefaultSubject = "strata.invalidate"

const (
	defaultHealthInterval = time.Second
	// defaultFlushWait bounds the round trip of a publish whose context has no deadline, as
	// nats.go's own Flush does.
	defaultFlushWait = 10 * time.Second
)

// Options configures a [Bus]. The zero value of every field is sensible.
type Options struct {
	// Subject is the subject the bus publishes on and subscribes to. Empty means DefaultSubject.
	// Instances exchange messages when their subjects are equal: give each application (each
	// cache Namespace) its own, for example "myapp." + DefaultSubject. It must be a literal
	// subject: dot-separated tokens, no wildcards ("*", ">") and no white space.
	Subject string
	// HealthInterval is how often each subscription sends the server a PING; one not answered
	// within another HealthInterval counts as a lost subscription. Zero means 1 s. A closed or
	// failed connection is noticed at once; a silent one within 2 × HealthInterval: that is the
	// bus's share of the staleness bound (see tiered.BusOptions).
	HealthInterval time.Duration
}

// ErrNilConn is returned by New without a connection. It wraps tiered.ErrInvalidOptions.
var ErrNilConn = fmt.Errorf("%w: natsbus: nil *nats.Conn", tiered.ErrInvalidOptions)

// Bus is a tiered.Bus over NATS: Publish sends on the subject and waits for the server to have
// taken the message; each Subscribe is a subscription of its own on the connection. The
// connection stays the caller's to close, after the caches that use the bus.
type Bus struct {
	nc      *nats.Conn
	subject string
	health  time.Duration
}

var _ tiered.Bus = (*Bus)(nil)

// New builds a Bus on nc. It fails, wrapping tiered.ErrInvalidOptions, when nc is nil or closed,
// uses nats.NoEcho, or when the options are invalid.
func New(nc *nats.Conn, o Options) (*Bus, error) {
	if nc == nil {
		return nil, ErrNilConn
	}
	b := &Bus{nc: nc, subject: o.Subject, health: o.HealthInterval}
	if b.subject == "" {
		b.subject = DefaultSubject
	}
	if b.health == 0 {
		b.health = defaultHealthInterval
	}
	switch {
	case o.HealthInterval < 0:
		return nil, fmt.Errorf("%w: natsbus: HealthInterval %v is negative", tiered.ErrInvalidOptions, o.HealthInterval)
	case nc.Opts.NoEcho:
		return nil, fmt.Errorf("%w: natsbus: the connection uses NoEcho, and a cache needs its own messages back", tiered.ErrInvalidOptions)
	case nc.IsClosed():
		return nil, fmt.Errorf("%w: natsbus: %w", tiered.ErrInvalidOptions, nats.ErrConnectionClosed)
	}
	if err := checkSubject(b.subject); err != nil {
		return nil, fmt.Errorf("%w: natsbus: Subject %q: %w", tiered.ErrInvalidOptions, b.subject, err)
	}
	return b, nil
}

// checkSubject accepts a literal subject: non-empty dot-separated tokens, no wildcard token, no
// white space.
func checkSubject(s string) error {
	if strings.ContainsAny(s, " \t\r\n") {
		return errors.New("white space in a subject")
	}
	for tok := range strings.SplitSeq(s, ".") {
		switch tok {
		case "":
			return errors.New("empty token")
		case "*", ">":
			return errors.New("wildcards cannot be published to")
		}
	}
	return nil
}

// Subject returns the bus's subject.
func (b *Bus) Subject() string { return b.subject }

// Publish sends msg on the subject and returns once the server has answered a PING sent after it,
// so that nil means the server took the message. It fails at once while the connection is not
// connected, rather than leaving the message in nats.go's reconnection buffer, and returns when
// ctx is done whatever the server does. Without a deadline in ctx the round trip is bounded by
// 10 s.
func (b *Bus) Publish(ctx context.Context, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("natsbus: publish: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultFlushWait)
		defer cancel()
	}
	// nats.go may hold the connection's lock while it writes to a socket that does not drain
	// (a frozen server with full buffers), up to its FlusherTimeout: publish on a goroutine of
	// its own so that ctx alone bounds the caller.
	done := make(chan error, 1)
	go func() { done <- b.publish(ctx, msg) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("natsbus: publish: %w", ctx.Err())
	}
}

func (b *Bus) publish(ctx context.Context, msg []byte) error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("natsbus: publish: connection %s: %w", strings.ToLower(st.String()), nats.ErrDisconnected)
	}
	if err := b.nc.Publish(b.subject, msg); err != nil {
		return fmt.Errorf("natsbus: publish: %w", err)
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("natsbus: publish: %w", err)
	}
	return nil
}
