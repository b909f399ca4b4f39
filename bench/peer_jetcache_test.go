package bench

import (
	"context"
	"strconv"

	jetcache "github.com/mgtv-tech/jetcache-go"
	"github.com/mgtv-tech/jetcache-go/local"
	"github.com/mgtv-tech/jetcache-go/logger"
	"github.com/mgtv-tech/jetcache-go/remote"
)

// jetcache-go keeps its default statistics, whose logger prints a table every minute; only its
// warnings and errors are printed here, so that the table cannot split a benchmark's result
// line. (Under the race detector, that minute tick also reports a data race inside jetcache-go:
// its stats loop reads what a newly built cache writes.)
func init() { logger.SetLevel(logger.LevelWarn) }

// jetcacheTinyLFUSize is the size given to jetcache-go's TinyLFU so that it keeps l1Entries
// entries. Its TinyLFU is ristretto with MaxCost = size and a cost of 1 per entry, to which
// ristretto adds its own 56-byte internal cost: local.NewTinyLFU(10_000, ...) keeps only
// 10,000 / 57 ≈ 175 entries (TestL1Capacity counts them).
const jetcacheTinyLFUSize = l1Entries * (1 + 56)

// jetcacheStack is jetcache-go v1.2.6: msgpack + s2 above 64 bytes (its default codec), a
// TinyLFU local cache of encoded bytes (decoded on every hit), singleflight in Once.
type jetcacheStack struct {
	c      jetcache.Cache
	prefix string
	src    source
}

func newJetcache(s setup, tinyLFUSize int) *jetcacheStack {
	var l local.Local
	if s.l1 {
		l = local.NewTinyLFU(tinyLFUSize, ttl)
	}
	return newJetcacheWithLocal(s, l)
}

// newJetcacheFreeCache builds jetcache-go with the local cache of its README's examples:
// FreeCache of 256 MiB, shared by every instance of the process (FreeCache's first size wins).
func newJetcacheFreeCache(s setup) *jetcacheStack {
	return newJetcacheWithLocal(s, local.NewFreeCache(256*local.MB, ttl))
}

func newJetcacheWithLocal(s setup, l local.Local) *jetcacheStack {
	opts := []jetcache.Option{jetcache.WithName(s.prefix), jetcache.WithRemoteExpiry(ttl)}
	if s.rdb != nil {
		opts = append(opts, jetcache.WithRemote(remote.NewGoRedisV9Adapter(s.rdb)))
	}
	if l != nil {
		opts = append(opts, jetcache.WithLocal(l))
	}
	return &jetcacheStack{c: jetcache.New(opts...), prefix: s.prefix, src: s.src}
}

func (j *jetcacheStack) load(ctx context.Context, key string) (Record, error) {
	var v Record
	err := j.c.Once(ctx, j.prefix+key, jetcache.Value(&v), jetcache.TTL(ttl),
		jetcache.Do(func(ctx context.Context) (any, error) { return j.src(ctx, key) }))
	return v, err
}

func (j *jetcacheStack) set(ctx context.Context, key string, v Record) error {
	return j.c.Set(ctx, j.prefix+key, jetcache.Value(v), jetcache.TTL(ttl))
}

func (j *jetcacheStack) close() { j.c.Close() }

// jetcacheBatch is jetcache-go's MGet (one pipelined GET of the missing keys, one source call,
// one pipelined SETEX) with a writer that puts records in Redis only.
type jetcacheBatch struct {
	t      *jetcache.T[int64, Record]
	key    string
	writer *jetcacheStack
	fn     func(context.Context, []int64) (map[int64]Record, error)
}

func newJetcacheBatch(j, writer *jetcacheStack, fn func(context.Context, []int64) (map[int64]Record, error)) *jetcacheBatch {
	return &jetcacheBatch{t: jetcache.NewT[int64, Record](j.c), key: j.prefix + "rec", writer: writer, fn: fn}
}

func (j *jetcacheBatch) call(ctx context.Context, ids []int64) (map[int64]Record, error) {
	return j.t.MGetWithErr(ctx, j.key, ids, j.fn)
}

// store writes the records of ids to Redis only, under the keys MGet reads.
func (j *jetcacheBatch) store(ctx context.Context, ids []int64) error {
	for _, id := range ids {
		if err := j.writer.c.Set(ctx, j.key+":"+strconv.FormatInt(id, 10), jetcache.Value(recordOf(id)), jetcache.TTL(ttl)); err != nil {
			return err
		}
	}
	return nil
}
