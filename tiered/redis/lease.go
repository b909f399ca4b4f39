package redistier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/tiered"
)

// Leases (tiered.Leaser): while a key has no entry, its lease is a marker stored under the key
// itself — leasePrefix followed by the holder's token — taken with SET NX PX GET, so that the read
// of a load and the take of its lease are one plain command, and a Cluster never needs a second
// key in the same slot. Every read of the backend reports a marker as no entry. The holder's
// write replaces its own marker only (a script compares it first), so a write whose lease expired,
// or whose key was invalidated or set meanwhile (both remove the marker), stores nothing.

var _ tiered.Leaser = (*Backend)(nil)

// leasePrefix starts every lease marker. No envelope starts with a NUL byte.
const leasePrefix = "\x00strata.lease\x00"

// isLease reports whether v, a value read from Redis, is a lease marker rather than an entry.
func isLease(v string) bool { return strings.HasPrefix(v, leasePrefix) }

// getOrLeaseScript is SET key marker NX PX ms GET for servers older than Redis 7.0, which refuse
// NX with GET: the entry or marker stored under the key, or nil after taking the lease.
var getOrLeaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`)

// setLeasedScript stores the entry only where the key still holds the marker: 1 stored, 0 refused.
var setLeasedScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

// releaseScript deletes the key only where it still holds the marker.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// GetOrLease returns the entry of each key and, where there is none and no lease is held, takes
// the lease for ttl with token, in one round trip (one SET NX PX GET per key, pipelined). It
// implements tiered.Leaser.
func (b *Backend) GetOrLease(ctx context.Context, keys []string, token string, ttl time.Duration) ([][]byte, []bool, error) {
	marker := leasePrefix + token
	type answer struct {
		data  [][]byte
		taken []bool
	}
	a, err := guarded(ctx, b.honours, func(ctx context.Context) (answer, error) {
		vals, err := b.setNXGet(ctx, keys, marker, max(ttl, minTTL))
		if err != nil {
			return answer{}, fmt.Errorf("redistier: lease: %w", err)
		}
		a := answer{data: make([][]byte, len(keys)), taken: make([]bool, len(keys))}
		for i, v := range vals {
			switch {
			case v == nil:
				a.taken[i] = true // the key was free: its lease is ours
			case isLease(*v):
				a.taken[i] = *v == marker // ours already, or another instance's
			default:
				a.data[i] = []byte(*v)
			}
		}
		return a, nil
	})
	return a.data, a.taken, err
}

// setNXGet runs SET key marker NX PX ttl GET for each key (pipelined when more than one) and
// returns each old value, nil where there was none.
func (b *Backend) setNXGet(ctx context.Context, keys []string, marker string, ttl time.Duration) ([]*string, error) {
	out := make([]*string, len(keys))
	if b.oldSet.Load() {
		ms := strconv.FormatInt(ttl.Milliseconds(), 10)
		vals, err := b.scripts(ctx, getOrLeaseScript, len(keys), func(i int) ([]string, []any) {
			return []string{keys[i]}, []any{marker, ms}
		})
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out[i] = &s
			}
		}
		return out, err
	}
	args := redis.SetArgs{Mode: "NX", TTL: ttl, Get: true}
	cmds := make([]*redis.StatusCmd, len(keys))
	if len(keys) == 1 {
		cmds[0] = b.c.SetArgs(ctx, keys[0], marker, args)
	} else {
		_, _ = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.SetArgs(ctx, k, marker, args)
			}
			return nil
		})
	}
	for i, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case err == nil:
			out[i] = &v
		case errors.Is(err, redis.Nil):
		case strings.Contains(err.Error(), "syntax error") && !b.oldSet.Swap(true):
			return b.setNXGet(ctx, keys, marker, ttl) // before Redis 7.0: once more, scripted
		default:
			return nil, err
		}
	}
	return out, nil
}

// SetLeased stores data[i] under keys[i] for ttls[i] where keys[i] still holds token's lease
// marker, which the entry replaces (one script call per key, pipelined). It implements
// tiered.Leaser.
func (b *Backend) SetLeased(ctx context.Context, keys []string, token string, data [][]byte, ttls []time.Duration) ([]bool, error) {
	if len(data) != len(keys) || len(ttls) != len(keys) {
		return nil, fmt.Errorf("redistier: SetLeased: %d keys, %d entries, %d ttls", len(keys), len(data), len(ttls))
	}
	marker := leasePrefix + token
	return guarded(ctx, b.honours, func(ctx context.Context) ([]bool, error) {
		vals, err := b.scripts(ctx, setLeasedScript, len(keys), func(i int) ([]string, []any) {
			return []string{keys[i]}, []any{marker, data[i], max(ttls[i], minTTL).Milliseconds()}
		})
		if err != nil {
			return nil, fmt.Errorf("redistier: leased SET: %w", err)
		}
		out := make([]bool, len(keys))
		for i, v := range vals {
			n, _ := v.(int64)
			out[i] = n == 1
		}
		return out, nil
	})
}

// ReleaseLeases removes the lease markers of keys that still hold token. It implements
// tiered.Leaser.
func (b *Backend) ReleaseLeases(ctx context.Context, keys []string, token string) error {
	marker := leasePrefix + token
	return guard(ctx, b.honours, func(ctx context.Context) error {
		_, err := b.scripts(ctx, releaseScript, len(keys), func(i int) ([]string, []any) {
			return []string{keys[i]}, []any{marker}
		})
		if err != nil {
			return fmt.Errorf("redistier: lease release: %w", err)
		}
		return nil
	})
}

// scripts runs s n times, with the keys and arguments of call i, and returns the replies in
// order (nil for a nil reply): one call directly, more in one pipeline (which a Cluster client splits by node). The
// calls that find the script missing from a node's cache (and only those: the others ran) run
// again with the script's text.
func (b *Backend) scripts(ctx context.Context, s *redis.Script, n int, args func(i int) ([]string, []any)) ([]any, error) {
	out := make([]any, n)
	if n == 1 {
		keys, argv := args(0)
		v, err := s.Run(ctx, b.c, keys, argv...).Result()
		if errors.Is(err, redis.Nil) {
			return out, nil // a nil reply
		}
		out[0] = v
		return out, err
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for _, evalText := range []bool{false, true} {
		cmds := make([]*redis.Cmd, len(idx))
		_, _ = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, i := range idx {
				keys, argv := args(i)
				if evalText {
					cmds[j] = s.Eval(ctx, p, keys, argv...)
				} else {
					cmds[j] = s.EvalSha(ctx, p, keys, argv...)
				}
			}
			return nil
		})
		var missing []int
		for j, i := range idx {
			err := cmds[j].Err()
			switch {
			case err == nil:
				out[i] = cmds[j].Val()
			case errors.Is(err, redis.Nil): // a nil reply
			case !evalText && redis.HasErrorPrefix(err, "NOSCRIPT"):
				missing = append(missing, i)
			default:
				return nil, err
			}
		}
		if len(missing) == 0 {
			return out, nil
		}
		idx = missing
	}
	return nil, errors.New("redistier: script still missing after EVAL")
}
