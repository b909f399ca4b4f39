package redistier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// StreamAdd appends an entry to stream with XADD and returns its ID. With maxLen > 0 the stream is
// trimmed to about maxLen entries (MAXLEN ~, which trims whole nodes and so costs little).
func (b *Backend) StreamAdd(ctx context.Context, stream string, fields map[string]any, maxLen int64) (string, error) {
	a := &redis.XAddArgs{Stream: stream, Values: fields}
	if maxLen > 0 {
		a.MaxLen, a.Approx = maxLen, true
	}
	id, err := b.c.XAdd(ctx, a).Result()
	if err != nil {
		return "", fmt.Errorf("redistier: XADD: %w", err)
	}
	return id, nil
}

// StreamLatest returns the n newest entries of stream, newest first (XREVRANGE + - COUNT n).
func (b *Backend) StreamLatest(ctx context.Context, stream string, n int64) ([]redis.XMessage, error) {
	msgs, err := b.c.XRevRangeN(ctx, stream, "+", "-", n).Result()
	if err != nil {
		return nil, fmt.Errorf("redistier: XREVRANGE: %w", err)
	}
	return msgs, nil
}

// StreamRead returns up to n entries of stream after lastID, oldest first (XREAD). With block > 0
// it waits up to block for an entry when there is none; zero does not wait. No entry is (nil, nil).
func (b *Backend) StreamRead(ctx context.Context, stream, lastID string, n int64, block time.Duration) ([]redis.XMessage, error) {
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
	return res[0].Messages, nil
}
