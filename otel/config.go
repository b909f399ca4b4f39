package stratotel

import (
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures an [Observer]. The zero configuration uses the global tracer and meter
// providers, traces only operations called inside a sampled trace, and exports no key.
type Option interface {
	apply(*config)
}

type config struct {
	tp      trace.TracerProvider
	mp      metric.MeterProvider
	root    bool
	hashKey []byte
	hashOn  bool
	err     error
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithTracerProvider makes the observer create its spans with tp. Without it, or with nil, the
// global provider (otel.GetTracerProvider) is used; a provider installed with
// otel.SetTracerProvider after [New] takes effect too.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tp = tp })
}

// WithMeterProvider makes the observer create its instruments with mp. Without it, or with nil,
// the global provider (otel.GetMeterProvider) is used; a provider installed with
// otel.SetMeterProvider after [New] takes effect too.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.mp = mp })
}

// WithRootSpans makes the observer trace operations called without a parent span too (each then
// starts a trace of its own, subject to the tracer provider's sampler). By default an operation is
// traced only inside a sampled trace, so that background work on the cache does not flood the
// tracing backend with one-span traces of L1 hits.
func WithRootSpans() Option {
	return optionFunc(func(c *config) { c.root = true })
}

// WithKeyHash adds the strata.key.hash attribute to the span of every single-key operation: the
// first 16 bytes, in hex, of HMAC-SHA-256 of the key under secret. The raw key is never exported.
// With a secret known only to the application, low-entropy keys (user IDs, say) cannot be
// recovered from the hash by trying candidates, while one key still hashes to the same value in
// every span and every process that shares the secret. The secret must not be empty.
func WithKeyHash(secret []byte) Option {
	return optionFunc(func(c *config) {
		if len(secret) == 0 {
			c.err = errors.Join(c.err, errors.New("stratotel: WithKeyHash needs a non-empty secret"))
			return
		}
		c.hashKey = append([]byte(nil), secret...)
		c.hashOn = true
	})
}

func newConfig(opts []Option) (config, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			return c, errors.New("stratotel: nil Option")
		}
		o.apply(&c)
	}
	if c.err != nil {
		return c, c.err
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	return c, nil
}
