package redistier

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
)

// getMany is GetMany without the guard (see guard).
func (b *Backend) getMany(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	switch c := b.c.(type) {
	case *redis.Client:
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, fmt.Errorf("redistier: MGET: %w", err)
		}
		return out, fill(out, vals, nil)
	case *redis.ClusterClient:
		groups := make(map[uint16][]int)
		var order []uint16
		for i, k := range keys {
			s := Slot(k)
			if _, ok := groups[s]; !ok {
				order = append(order, s)
			}
			groups[s] = append(groups[s], i)
		}
		cmds := make([]*redis.SliceCmd, len(order))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, s := range order {
				idx := groups[s]
				ks := make([]string, len(idx))
				for n, i := range idx {
					ks[n] = keys[i]
				}
				cmds[j] = p.MGet(ctx, ks...)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("redistier: MGET: %w", err)
		}
		for j, s := range order {
			if err := fill(out, cmds[j].Val(), groups[s]); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		// A Ring or another client that cannot route a multi-key command: one GET per key, in one
		// pipeline, which the client routes per key.
		cmds := make([]*redis.StringCmd, len(keys))
		_, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			return nil, fmt.Errorf("redistier: GET pipeline: %w", err)
		}
		for i, cmd := range cmds {
			v, err := cmd.Bytes()
			switch {
			case err == redis.Nil:
			case err != nil:
				return nil, fmt.Errorf("redistier: GET: %w", err)
			case !isLease(unsafe.String(unsafe.SliceData(v), len(v))):
				out[i] = v
			}
		}
		return out, nil
	}
}

// fill copies MGET replies into out, at idx[i] (or i when idx is nil).
func fill(out [][]byte, vals []any, idx []int) error {
	n := len(out)
	if idx != nil {
		n = len(idx)
	}
	if len(vals) != n {
		return fmt.Errorf("redistier: MGET returned %d values for %d keys", len(vals), n)
	}
	for i, v := range vals {
		j := i
		if idx != nil {
			j = idx[i]
		}
		switch v := v.(type) {
		case nil:
		case string:
			if isLease(v) {
				continue // a lease marker: no entry yet
			}
			// The reply is already a copy of the value that nothing else references; view it
			// without copying it again. The cache only reads entries.
			out[j] = unsafe.Slice(unsafe.StringData(v), len(v))
		case []byte:
			if !isLease(unsafe.String(unsafe.SliceData(v), len(v))) {
				out[j] = v
			}
		default:
			return fmt.Errorf("redistier: MGET returned a %T", v)
		}
	}
	return nil
}

// setMany is SetMany without the guard (see guard).
func (b *Backend) setMany(ctx context.Context, keys []string, data [][]byte, ttls []time.Duration) error {
	if len(keys) == 0 {
		return nil
	}
	if len(data) != len(keys) || len(ttls) != len(keys) {
		return fmt.Errorf("redistier: SetMany of %d keys with %d values and %d TTLs", len(keys), len(data), len(ttls))
	}
	cmds, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			p.Set(ctx, k, data[i], max(ttls[i], minTTL))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redistier: SET pipeline: %w", err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return fmt.Errorf("redistier: SET: %w", err)
		}
	}
	return nil
}
