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

// Leases (tiered.Leaser): the lease of a key is a string key beside it holding the holder's token,
// set with SET NX PX. It lives in the key's hash slot, so that the scripts below, which touch the
// key and its lease together, run on one node of a Redis Cluster: "{key}#strata.lease", or
// "key#strata.lease" when key already carries a hash tag.

var _ tiered.Leaser = (*Backend)(nil)

// leaseSuffix ends every lease key.
const leaseSuffix = "#strata.lease"

// errLeaseSlot reports a key whose lease cannot share its Cluster hash slot: it has no hash tag
// but contains "}", so no wrapping of it in braces hashes like it.
var errLeaseSlot = fmt.Errorf("redistier: lease of a key with \"}\" and no hash tag on a Cluster: %w", tiered.ErrUnsupported)

// leaseKey returns the key of key's lease and whether it lies in key's hash slot.
func leaseKey(key string) (string, bool) {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key + leaseSuffix, true // the hash tag decides both slots
		}
	}
	if strings.IndexByte(key, '}') < 0 {
		return "{" + key + "}" + leaseSuffix, true
	}
	return key + leaseSuffix, false
}

// leaseKeys returns the lease keys of keys. On a Cluster, a lease that cannot share its key's slot
// is an error.
func (b *Backend) leaseKeys(keys []string) ([]string, error) {
	_, cluster := b.c.(*redis.ClusterClient)
	out := make([]string, len(keys))
	for i, k := range keys {
		lk, same := leaseKey(k)
		if !same && cluster {
			return nil, errLeaseSlot
		}
		out[i] = lk
	}
	return out, nil
}

// getOrLeaseScript returns the key's entry or, when there is none, takes its lease if it is free:
// the entry (a string), 1 (taken, or already held with this token) or 0 (held by another).
var getOrLeaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[2]) == ARGV[1] then return 1 end
return 0`)

// setLeasedScript stores the entry only while the lease holds the token, and releases it.
var setLeasedScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0`)

// releaseScript deletes the lease only while it holds the token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// GetOrLease returns the entry of each key and, where there is none, takes its free lease for ttl
// with token, in one round trip (one script call per key, pipelined). It implements
// tiered.Leaser.
func (b *Backend) GetOrLease(ctx context.Context, keys []string, token string, ttl time.Duration) ([][]byte, []bool, error) {
	lks, err := b.leaseKeys(keys)
	if err != nil {
		return nil, nil, err
	}
	ms := strconv.FormatInt(max(ttl, minTTL).Milliseconds(), 10)
	type answer struct {
		data  [][]byte
		taken []bool
	}
	a, err := guarded(ctx, b.honours, func(ctx context.Context) (answer, error) {
		vals, err := b.scripts(ctx, getOrLeaseScript, len(keys), func(i int) ([]string, []any) {
			return []string{keys[i], lks[i]}, []any{token, ms}
		})
		if err != nil {
			return answer{}, fmt.Errorf("redistier: lease: %w", err)
		}
		a := answer{data: make([][]byte, len(keys)), taken: make([]bool, len(keys))}
		for i, v := range vals {
			switch v := v.(type) {
			case string:
				a.data[i] = []byte(v)
			case int64:
				a.taken[i] = v == 1
			default:
				return answer{}, fmt.Errorf("redistier: lease: unexpected reply %T", v)
			}
		}
		return a, nil
	})
	return a.data, a.taken, err
}

// SetLeased stores data[i] under keys[i] for ttls[i] where keys[i]'s lease still holds token, and
// releases those leases (one script call per key, pipelined). It implements tiered.Leaser.
func (b *Backend) SetLeased(ctx context.Context, keys []string, token string, data [][]byte, ttls []time.Duration) ([]bool, error) {
	if len(data) != len(keys) || len(ttls) != len(keys) {
		return nil, fmt.Errorf("redistier: SetLeased: %d keys, %d entries, %d ttls", len(keys), len(data), len(ttls))
	}
	lks, err := b.leaseKeys(keys)
	if err != nil {
		return nil, err
	}
	return guarded(ctx, b.honours, func(ctx context.Context) ([]bool, error) {
		vals, err := b.scripts(ctx, setLeasedScript, len(keys), func(i int) ([]string, []any) {
			return []string{keys[i], lks[i]}, []any{token, data[i], max(ttls[i], minTTL).Milliseconds()}
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

// ReleaseLeases releases the leases of keys that still hold token. It implements tiered.Leaser.
func (b *Backend) ReleaseLeases(ctx context.Context, keys []string, token string) error {
	lks, err := b.leaseKeys(keys)
	if err != nil {
		return err
	}
	return guard(ctx, b.honours, func(ctx context.Context) error {
		_, err := b.scripts(ctx, releaseScript, len(keys), func(i int) ([]string, []any) {
			return []string{lks[i]}, []any{token}
		})
		if err != nil {
			return fmt.Errorf("redistier: lease release: %w", err)
		}
		return nil
	})
}

// scripts runs s n times, with the keys and arguments of call i, and returns the replies in
// order: one call directly, more in one pipeline (which a Cluster client splits by node). The
// calls that find the script missing from a node's cache (and only those: the others ran) run
// again with the script's text.
func (b *Backend) scripts(ctx context.Context, s *redis.Script, n int, args func(i int) ([]string, []any)) ([]any, error) {
	out := make([]any, n)
	if n == 1 {
		keys, argv := args(0)
		v, err := s.Run(ctx, b.c, keys, argv...).Result()
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
