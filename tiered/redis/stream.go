package redistier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// StreamEntry is one entry of a stream.
type StreamEntry struct {
	// ID is the entry's stream ID ("1700000000000-0").
	ID string
	// Fields are the entry's field-value pairs, values as strings.
	Fields map[string]string
}

// ErrInvalidStreamCall is wrapped by the errors of stream calls with invalid arguments.
var ErrInvalidStreamCall = errors.New("redistier: invalid stream call")

// Publish appends an entry with fields to stream (XADD) and returns its ID. With maxLen > 0 the
// stream is trimmed to about maxLen entries (MAXLEN ~, which trims whole nodes and so costs
// little). The stream's key is used as given: prefix it yourself to keep applications apart.
func (b *Backend) Publish(ctx context.Context, stream string, fields map[string]any, maxLen int64) (string, error) {
	switch {
	case stream == "":
		return "", fmt.Errorf("%w: empty stream name", ErrInvalidStreamCall)
	case len(fields) == 0:
		return "", fmt.Errorf("%w: Publish to %q without fields", ErrInvalidStreamCall, stream)
	}
	return guarded(ctx, b.honours, func(ctx context.Context) (string, error) {
		a := &redis.XAddArgs{Stream: stream, Values: fields}
		if maxLen > 0 {
			a.MaxLen, a.Approx = maxLen, true
		}
		id, err := b.c.XAdd(ctx, a).Result()
		if err != nil {
			return "", fmt.Errorf("redistier: XADD: %w", err)
		}
		return id, nil
	})
}

// ReadLatest returns the n newest entries of stream, newest first (XREVRANGE + - COUNT n).
func (b *Backend) ReadLatest(ctx context.Context, stream string, n int64) ([]StreamEntry, error) {
	if stream == "" {
		return nil, fmt.Errorf("%w: empty stream name", ErrInvalidStreamCall)
	}
	if n <= 0 {
		return nil, nil
	}
	return guarded(ctx, b.honours, func(ctx context.Context) ([]StreamEntry, error) {
		msgs, err := b.c.XRevRangeN(ctx, stream, "+", "-", n).Result()
		if err != nil {
			return nil, fmt.Errorf("redistier: XREVRANGE: %w", err)
		}
		return entries(msgs), nil
	})
}

// Read returns up to n entries of stream after lastID, oldest first (XREAD): "0" reads from the
// start, "$" only what arrives from now on, and an entry's ID continues after it. With block > 0
// it waits up to block for an entry when there is none yet; zero returns at once. No entry is
// (nil, nil). ctx bounds the call as a whole: give it room for block.
func (b *Backend) Read(ctx context.Context, stream, lastID string, n int64, block time.Duration) ([]StreamEntry, error) {
	switch {
	case stream == "":
		return nil, fmt.Errorf("%w: empty stream name", ErrInvalidStreamCall)
	case lastID == "":
		return nil, fmt.Errorf("%w: Read of %q with an empty lastID (use \"0\" or \"$\")", ErrInvalidStreamCall, stream)
	case n <= 0 || block < 0:
		return nil, fmt.Errorf("%w: Read of %q: n must be positive and block not negative", ErrInvalidStreamCall, stream)
	}
	return guarded(ctx, b.honours, func(ctx context.Context) ([]StreamEntry, error) {
		a := &redis.XReadArgs{Streams: []string{stream, lastID}, Count: n, Block: -1}
		if block > 0 {
			a.Block = max(block, time.Millisecond)
		}
		res, err := b.c.XRead(ctx, a).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("redistier: XREAD: %w", err)
		}
		if len(res) == 0 {
			return nil, nil
		}
		return entries(res[0].Messages), nil
	})
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
