// Package connect opens the examples' connections to the servers they depend on and, when one
// does not answer, fails with an error that names the server, its address, where that address came
// from and how to fix it — rather than a bare "connection refused" or "context deadline exceeded".
package connect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeout bounds each check.
const Timeout = 3 * time.Second

// Error says that a server an example depends on could not be used.
type Error struct {
	// Server names what was asked for: "Redis", "PostgreSQL", "an OTLP gRPC collector".
	Server string
	// Addr is where it was looked for (host:port, never a URL with its credentials).
	Addr string
	// From names where the address came from: a flag ("-redis"), an environment variable
	// ("REDIS_URL"), or a default.
	From string
	// Problem says what went wrong; empty means "does not answer".
	Problem string
	// Fix says how to get past the failure.
	Fix string
	// Err is the underlying failure.
	Err error
}

// Error reads, on two lines, "<Server> at <Addr> (<From>) does not answer: <Err>" (or the
// Problem in place of "does not answer") and "  fix: <Fix>".
func (e *Error) Error() string {
	problem := e.Problem
	if problem == "" {
		problem = "does not answer"
	}
	return fmt.Sprintf("%s at %s (%s) %s: %v\n  fix: %s", e.Server, e.Addr, e.From, problem, e.Err, e.Fix)
}

// Unwrap returns the underlying failure.
func (e *Error) Unwrap() error { return e.Err }

// Redis parses rawURL (redis://host:port/db), connects and pings the server, and returns the
// client, whose calls are bounded by their contexts (ContextTimeoutEnabled). from names the flag or
// variable rawURL came from; without says what the example does when it is left empty (say "to
// run on the in-process cache alone"), for the fix, and is empty when the example needs Redis. A URL that does not parse, or a server that
// does not answer within Timeout, is an error naming the address and the fix.
func Redis(ctx context.Context, rawURL, from, without string) (*redis.Client, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: not a Redis URL (want redis://host:port/db): %w", from, err)
	}
	opt.ContextTimeoutEnabled = true
	unreachable := func(err error) error {
		fix := "start Redis there"
		if host, port, err := net.SplitHostPort(opt.Addr); err == nil && isLoopback(host) {
			fix += fmt.Sprintf(" (redis-server --port %s)", port)
		}
		if without != "" {
			fix += fmt.Sprintf(", point %s at a running Redis, or leave %s empty %s", from, from, without)
		} else {
			fix += fmt.Sprintf(", or point %s at a running Redis", from)
		}
		return &Error{Server: "Redis", Addr: opt.Addr, From: from, Fix: fix, Err: err}
	}
	// A plain dial first: go-redis would retry a refused connection and log each attempt.
	dctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, opt.Network, opt.Addr)
	if err != nil {
		return nil, unreachable(err)
	}
	_ = conn.Close()
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(dctx).Err(); err != nil {
		_ = rdb.Close()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, unreachable(err)
		}
		return nil, &Error{Server: "Redis", Addr: opt.Addr, From: from, Problem: "refused PING", Err: err,
			Fix: fmt.Sprintf("check that a Redis server listens there and that the user, password and database in %s are right", from)}
	}
	return rdb, nil
}

// TCP checks that something accepts TCP connections at addr (host:port) within Timeout. It is
// the check for servers whose client would otherwise fail late and vaguely: an OTLP exporter, say,
// whose spans are lost in the background until a flush ends with "context deadline exceeded".
func TCP(ctx context.Context, server, addr, from, fix string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", from, addr, err)
	}
	dctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no connection within %v: %w", Timeout, err)
		}
		return &Error{Server: server, Addr: addr, From: from, Fix: fix, Err: err}
	}
	return conn.Close()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FreeAddr returns a loopback address nothing listens on (it listened there a moment ago), for
// tests of what happens when a server is missing.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return addr, nil
}
