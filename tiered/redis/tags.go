package redistier

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tag index: one sorted set per tag, whose members are the keys carrying the tag, each scored
// with the time (Unix milliseconds, Redis's clock) its entry expires. Indexing a key
//
//   - drops the members whose entries have expired (ZREMRANGEBYSCORE -inf now), so a set holds
//     only live keys plus those expired since its last write;
//   - adds or extends the key (its score only ever grows);
//   - extends the set's own expiry to the key's if that is later, so an idle set disappears when
//     the last entry it points to does.
//
// Everything runs in one Lua script per tag against the tag's own key, so it is atomic and works
// in a Cluster (the members live in other slots and are never touched by the script).

var indexScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local exp = now + ttl
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not cur or tonumber(cur) < exp then
	redis.call('ZADD', KEYS[1], exp, ARGV[1])
end
if redis.call('PTTL', KEYS[1]) < ttl then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
redis.call('UNLINK', KEYS[1])
return m
`)

// indexTags is IndexTags without the guard (see guard).
func (b *Backend) indexTags(ctx context.Context, key string, tagKeys []string, ttl time.Duration) error {
	ms := max(ttl.Milliseconds(), 1)
	_, err := b.runScript(ctx, indexScript, tagKeys, key, ms)
	if err != nil {
		return fmt.Errorf("redistier: tag index: %w", err)
	}
	return nil
}

// takeTagged is TakeTagged without the guard (see guard).
func (b *Backend) takeTagged(ctx context.Context, tagKeys []string) ([]string, error) {
	cmds, err := b.runScript(ctx, takeScript, tagKeys)
	if err != nil {
		return nil, fmt.Errorf("redistier: tag index: %w", err)
	}
	var keys []string
	for _, c := range cmds {
		ks, err := c.StringSlice()
		if err != nil {
			return nil, fmt.Errorf("redistier: tag index: %w", err)
		}
		keys = append(keys, ks...)
	}
	return keys, nil
}

// runScript runs s once per key in one pipeline, by SHA first; the calls that find the script
// missing (a restarted server, a Cluster node that never ran it) are run again by source.
func (b *Backend) runScript(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(keys))
	_, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = s.EvalSha(ctx, p, []string{k}, args...)
		}
		return nil
	})
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return cmds, err
	}
	_, err = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			if e := cmds[i].Err(); e != nil && redis.HasErrorPrefix(e, "NOSCRIPT") {
				cmds[i] = s.Eval(ctx, p, []string{k}, args...)
			}
		}
		return nil
	})
	if err != nil {
		return cmds, err
	}
	for _, c := range cmds {
		if c.Err() != nil {
			return cmds, c.Err()
		}
	}
	return cmds, nil
}
