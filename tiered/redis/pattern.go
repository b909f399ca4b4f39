package redistier

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/tiered"
)

// Pattern deletes walk the keyspace with SCAN MATCH (never KEYS, which blocks the server) on every
// master, and remove what they find with UNLINK (the memory is freed off the main thread) in
// batches of at most scanBatch keys; in a Cluster each batch is split per hash slot.
const scanBatch = 512

// ErrUnsupportedClient is returned by operations that need to reach every node when the client is
// not a *redis.Client (single node or Sentinel failover), *redis.ClusterClient or *redis.Ring. It
// wraps tiered.ErrUnsupported: the cache reports it without counting it as a tier failure.
var ErrUnsupportedClient = fmt.Errorf("redistier: client type cannot enumerate its nodes: %w", tiered.ErrUnsupported)

// deletePattern is DeletePattern without the guard (see guard).
func (b *Backend) deletePattern(ctx context.Context, pattern string) (int, error) {
	switch c := b.c.(type) {
	case *redis.ClusterClient:
		var total atomic.Int64
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			n, err := scanUnlink(ctx, node, pattern, true)
			total.Add(int64(n))
			return err
		})
		return int(total.Load()), err
	case *redis.Ring:
		var total atomic.Int64
		err := c.ForEachShard(ctx, func(ctx context.Context, shard *redis.Client) error {
			n, err := scanUnlink(ctx, shard, pattern, false)
			total.Add(int64(n))
			return err
		})
		return int(total.Load()), err
	case *redis.Client:
		return scanUnlink(ctx, c, pattern, false)
	default:
		return 0, fmt.Errorf("%w: %T", ErrUnsupportedClient, b.c)
	}
}

// scanUnlink deletes the keys of one node that match pattern.
func scanUnlink(ctx context.Context, node *redis.Client, pattern string, cluster bool) (int, error) {
	var (
		cursor uint64
		batch  []string
		total  int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := unlink(ctx, node, batch, cluster)
		total += n
		batch = batch[:0]
		return err
	}
	for {
		keys, next, err := node.Scan(ctx, cursor, pattern, scanBatch).Result()
		if err != nil {
			return total, fmt.Errorf("redistier: SCAN: %w", err)
		}
		batch = append(batch, keys...)
		if len(batch) >= scanBatch {
			if err := flush(); err != nil {
				return total, err
			}
		}
		if cursor = next; cursor == 0 {
			return total, flush()
		}
	}
}

// unlink removes keys from one node: one UNLINK, or in a Cluster one UNLINK per hash slot, all in
// one pipeline.
func unlink(ctx context.Context, node *redis.Client, keys []string, cluster bool) (int, error) {
	if !cluster {
		n, err := node.Unlink(ctx, keys...).Result()
		if err != nil {
			return int(n), fmt.Errorf("redistier: UNLINK: %w", err)
		}
		return int(n), nil
	}
	bySlot := make(map[int][]string)
	for _, k := range keys {
		s := int(Slot(k))
		bySlot[s] = append(bySlot[s], k)
	}
	cmds := make([]*redis.IntCmd, 0, len(bySlot))
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ks := range bySlot {
			cmds = append(cmds, p.Unlink(ctx, ks...))
		}
		return nil
	})
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	if err != nil {
		return n, fmt.Errorf("redistier: UNLINK: %w", err)
	}
	return n, nil
}
