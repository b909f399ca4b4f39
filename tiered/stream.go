package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoStreamBackend is returned by Publish, ReadLatest and Read when no tier of the cache
// implements [StreamBackend] (add a redis tier).
var ErrNoStreamBackend = errors.New("tiered: no stream backend configured (streams need a byte tier implementing StreamBackend, such as the redis tier)")

// StreamEntry is one entry of a stream.
type StreamEntry struct {
	// ID is the entry's stream ID ("1700000000000-0").
	ID string
	// Fields are the entry's field-value pairs, values as strings.
	Fields map[string]string
}

// Publish appends an entry with fields to stream (XADD) and returns its ID. With maxLen > 0 the
// stream is trimmed to about maxLen entries (MAXLEN ~). The stream's key is Namespace + stream.
// Like every byte-tier call it runs under the tier's Timeout and circuit breaker. The seed's
// publish_to_stream.
func (c *Cache) Publish(ctx context.Context, stream string, fields map[string]any, maxLen int64) (id string, err error) {
	t, sb, err := c.streamTier(stream)
	if err != nil {
		return "", err
	}
	if len(fields) == 0 {
		return "", fmt.Errorf("tiered: Publish to %q: no fields", stream)
	}
	_, _, err = c.callTier(ctx, t, CallSet, func(ctx context.Context) ([]byte, bool, error) {
		var err error
		id, err = sb.StreamAdd(ctx, c.namespace+stream, fields, maxLen)
		return nil, false, err
	})
	return id, err
}

// ReadLatest returns the n newest entries of stream, newest first (XREVRANGE). The seed's
// read_stream_latest.
func (c *Cache) ReadLatest(ctx context.Context, stream string, n int64) ([]StreamEntry, error) {
	t, sb, err := c.streamTier(stream)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	var msgs []redis.XMessage
	_, _, err = c.callTier(ctx, t, CallGet, func(ctx context.Context) ([]byte, bool, error) {
		var err error
		msgs, err = sb.StreamLatest(ctx, c.namespace+stream, n)
		return nil, len(msgs) > 0, err
	})
	return entries(msgs), err
}

// Read returns up to n entries of stream after lastID, oldest first (XREAD): "0" reads from the
// start, "$" only what arrives from now on, and an entry's ID continues after it. With block > 0
// it waits up to block for an entry when there is none yet; zero returns at once. No entry is
// (nil, nil). The call is bounded by the tier's Timeout plus block. The seed's read_stream.
func (c *Cache) Read(ctx context.Context, stream, lastID string, n int64, block time.Duration) ([]StreamEntry, error) {
	t, sb, err := c.streamTier(stream)
	if err != nil {
		return nil, err
	}
	if lastID == "" {
		return nil, fmt.Errorf("tiered: Read of %q: empty lastID (use \"0\" or \"$\")", stream)
	}
	if n <= 0 || block < 0 {
		return nil, fmt.Errorf("tiered: Read of %q: n must be positive and block not negative", stream)
	}
	var msgs []redis.XMessage
	_, _, err = c.callTierWithin(ctx, t, CallGet, t.timeout+block, func(ctx context.Context) ([]byte, bool, error) {
		var err error
		msgs, err = sb.StreamRead(ctx, c.namespace+stream, lastID, n, block)
		return nil, len(msgs) > 0, err
	})
	return entries(msgs), err
}

// streamTier returns the first tier that offers streams.
func (c *Cache) streamTier(stream string) (*tier, StreamBackend, error) {
	if c.closed.Load() {
		return nil, nil, ErrClosed
	}
	if stream == "" {
		return nil, nil, ErrEmptyKey
	}
	for _, t := range c.tiers {
		if sb, ok := t.bb.(StreamBackend); ok {
			return t, sb, nil
		}
	}
	return nil, nil, ErrNoStreamBackend
}

func entries(msgs []redis.XMessage) []StreamEntry {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]StreamEntry, len(msgs))
	for i, m := range msgs {
		f := make(map[string]string, len(m.Values))
		for k, v := range m.Values {
			if s, ok := v.(string); ok {
				f[k] = s
			} else {
				f[k] = fmt.Sprint(v)
			}
		}
		out[i] = StreamEntry{ID: m.ID, Fields: f}
	}
	return out
}
