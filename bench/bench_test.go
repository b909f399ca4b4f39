package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks below are interleaved (see interleave): each one builds every library for the
// same workload and alternates blocks of their operations within one run, reporting each
// library's figures as custom metrics named after it (strata-ns/op, jetcache-ns/op, ...). The
// ids: strata, strata-get (tiered.Get instead of tiered.Load), otter (raw otter v2),
// goredis-cache (go-redis/cache v9), jetcache (jetcache-go), gocache (eko/gocache marshaler +
// loadable + chain), gocache-local (eko/gocache over ristretto alone, values as they are),
// sturdyc, goredis (raw go-redis GET, no decoding).

var sink Record

// warm runs n operations of every contender, untimed, at indices from, from+1, ...
func warm(b *testing.B, cs []contender, from, n int) {
	b.Helper()
	for _, c := range cs {
		for i := from; i < from+n; i++ {
			if c.prep != nil {
				if err := c.prep(i); err != nil {
					b.Fatalf("%s: warm-up prep: %v", c.id, err)
				}
			}
			if err := c.op(i); err != nil {
				b.Fatalf("%s: warm-up: %v", c.id, err)
			}
		}
		if c.loads != nil {
			c.loads.Store(0)
		}
	}
}

// named is a library built for a workload, with the id of its metrics.
type named struct {
	id     string
	s      stack
	loads  *atomic.Int64
	prefix string // of its Redis keys; empty without Redis
}

// inProcessOnly are the libraries without a Redis tier of their own.
var inProcessOnly = map[string]bool{"otter": true, "sturdyc": true, "gocache-local": true}

// build builds the libraries of ids for setup; the in-process-only libraries (otter, sturdyc,
// gocache-local) ignore the Redis tier. Each gets its own client, key prefix and load counter.
func build(b *testing.B, ids []string, l1, withRedis bool, delay time.Duration) []named {
	b.Helper()
	var out []named
	for _, id := range ids {
		loads := new(atomic.Int64)
		s := setup{l1: l1, src: recordSource(loads, delay)}
		if withRedis && !inProcessOnly[id] {
			s.rdb = newClient(b)
			s.prefix = newPrefix(b, s.rdb, id)
		}
		var (
			st  stack
			err error
		)
		switch id {
		case "strata":
			st, err = newStrata(s)
		case "otter":
			st = newOtter(s.src)
		case "goredis-cache":
			st = newGoredisCache(s)
		case "jetcache":
			st = newJetcache(s, jetcacheTinyLFUSize)
		case "gocache":
			st, err = newGocache(s)
		case "gocache-local":
			st, err = newGocacheLocal(s.src)
		case "sturdyc":
			st = newSturdyc(s.src)
		default:
			b.Fatalf("unknown library %q", id)
		}
		if err != nil {
			b.Fatalf("%s: %v", id, err)
		}
		b.Cleanup(st.close)
		out = append(out, named{id: id, s: st, loads: loads, prefix: s.prefix})
	}
	return out
}

// hitContenders reads key k through every library, checking the record it gets.
func hitContenders(ctx context.Context, libs []named, k string, want int64) []contender {
	cs := make([]contender, len(libs))
	for i, l := range libs {
		s := l.s
		cs[i] = contender{id: l.id, loads: l.loads, op: func(int) error {
			v, err := s.load(ctx, k)
			if err == nil && v.ID != want {
				err = fmt.Errorf("got record %d, want %d", v.ID, want)
			}
			sink = v
			return err
		}}
	}
	return cs
}

// strataGet is strata read with tiered.Get, no loader.
func strataGet(ctx context.Context, s *strataStack, k string, want int64) contender {
	return contender{id: "strata-get", op: func(int) error {
		v, ok, err := s.get(ctx, k)
		switch {
		case err != nil:
		case !ok:
			err = errors.New("miss")
		case v.ID != want:
			err = fmt.Errorf("got record %d, want %d", v.ID, want)
		}
		sink = v
		return err
	}}
}

// noLoads fails the benchmark when a contender's source was called: every read had to be a hit.
func noLoads(b *testing.B, cs []contender) {
	b.Helper()
	for _, c := range cs {
		if c.loads != nil && c.loads.Load() != 0 {
			b.Fatalf("%s: %d reads were misses", c.id, c.loads.Load())
		}
	}
}

// BenchmarkL1Hit reads one record already in the in-process tier. The libraries with a Redis
// tier are built with it, and the key is then deleted from Redis, so any read that is not an L1
// hit would reach the source and fail the benchmark.
func BenchmarkL1Hit(b *testing.B) {
	libs := build(b, []string{"strata", "otter", "goredis-cache", "jetcache", "gocache", "gocache-local", "sturdyc"}, true, true, 0)
	ctx := context.Background()
	const id = 1
	k := key(id)
	for _, l := range libs {
		if err := l.s.set(ctx, k, recordOf(id)); err != nil {
			b.Fatalf("%s: %v", l.id, err)
		}
	}
	rdb := newClient(b)
	for _, l := range libs {
		if l.prefix == "" {
			continue
		}
		n, err := rdb.Del(ctx, l.prefix+k).Result()
		if err != nil || n != 1 {
			b.Fatalf("%s: deleting %s from Redis: %d deleted, %v", l.id, l.prefix+k, n, err)
		}
	}
	cs := hitContenders(ctx, libs, k, id)
	cs = append(cs[:1], append([]contender{strataGet(ctx, libs[0].s.(*strataStack), k, id)}, cs[1:]...)...)
	warm(b, cs, 0, 100)
	interleave(b, 2000, cs)
	noLoads(b, cs)
}

// l2Hit reads one record from Redis through libraries built with Redis alone, so every read
// goes to Redis and decodes; raw go-redis GETs the same size of bytes without decoding.
func l2Hit(b *testing.B, ctx context.Context, withBackground bool) {
	libs := build(b, []string{"strata", "goredis-cache", "jetcache", "gocache"}, false, true, 0)
	bg := context.Background()
	const id = 1
	k := key(id)
	for _, l := range libs {
		if err := l.s.set(bg, k, recordOf(id)); err != nil {
			b.Fatalf("%s: %v", l.id, err)
		}
	}
	st := libs[0].s.(*strataStack)
	cs := hitContenders(ctx, libs, k, id)
	extra := []contender{strataGet(ctx, st, k, id)}
	if withBackground {
		c := hitContenders(bg, libs[:1], k, id)[0]
		c.id, c.loads = "strata-bg", nil
		extra = append(extra, c)
	}
	cs = append(cs[:1], append(extra, cs[1:]...)...)
	cs = append(cs, rawGet(b, ctx))
	warm(b, cs, 0, 50)
	interleave(b, 100, cs)
	noLoads(b, cs)
}

// rawGet is a go-redis GET of a value the size of strata's entry, with no decoding.
func rawGet(b *testing.B, ctx context.Context) contender {
	rdb := newClient(b)
	k := newPrefix(b, rdb, "goredis") + "k1"
	v, err := json.Marshal(recordOf(1))
	if err != nil {
		b.Fatal(err)
	}
	if err := rdb.Set(ctx, k, v, ttl).Err(); err != nil {
		b.Fatal(err)
	}
	return contender{id: "goredis", op: func(int) error {
		got, err := rdb.Get(ctx, k).Bytes()
		if err == nil && len(got) != len(v) {
			err = fmt.Errorf("got %d bytes, want %d", len(got), len(v))
		}
		return err
	}}
}

// BenchmarkL2Hit reads a record from Redis with context.Background().
func BenchmarkL2Hit(b *testing.B) { l2Hit(b, context.Background(), false) }

// BenchmarkL2HitRequestContext reads a record from Redis with a cancellable context, as every
// HTTP and gRPC handler has; strata-bg is strata with context.Background() in the same run.
func BenchmarkL2HitRequestContext(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l2Hit(b, ctx, true)
}

// stampedeCallers call a cold key at once in BenchmarkStampede; the source takes stampedeLoad.
const (
	stampedeCallers = 1000
	stampedeLoad    = 10 * time.Millisecond
)

// BenchmarkStampede sends 1,000 callers at a cold key whose source takes 10 ms, and measures
// from their release to the last answer. loads/op is the source calls per stampede: 1 is a
// library that lets one caller through.
func BenchmarkStampede(b *testing.B) {
	libs := build(b, []string{"strata", "otter", "goredis-cache", "jetcache", "gocache", "sturdyc"}, true, true, stampedeLoad)
	ctx := context.Background()
	cs := make([]contender, len(libs))
	for j, l := range libs {
		var (
			start chan struct{}
			wg    sync.WaitGroup
			errs  chan error
		)
		s := l.s
		cs[j] = contender{id: l.id, loads: l.loads,
			prep: func(i int) error {
				start, errs = make(chan struct{}), make(chan error, 1)
				k := key(int64(i))
				ready := make(chan struct{}, stampedeCallers)
				for range stampedeCallers {
					wg.Go(func() {
						ready <- struct{}{}
						<-start
						v, err := s.load(ctx, k)
						if err == nil && v.ID != int64(i) {
							err = fmt.Errorf("got record %d, want %d", v.ID, i)
						}
						if err != nil {
							select {
							case errs <- err:
							default:
							}
						}
					})
				}
				for range stampedeCallers {
					<-ready
				}
				return nil
			},
			op: func(int) error {
				close(start)
				wg.Wait()
				select {
				case err := <-errs:
					return err
				default:
					return nil
				}
			},
		}
	}
	warm(b, cs, 1<<40, 2)
	interleave(b, 1, cs)
}

// Zipf workload: keys drawn from zipfKeys with exponent zipfS, through an L1 of l1Entries
// entries and Redis, with the source called on a miss in both.
const (
	zipfKeys = 100_000
	zipfS    = 1.1
	zipfSeq  = 1 << 18 // draws in the measured sequence, reused cyclically
	zipfWarm = 50_000  // draws of a separate warm-up sequence
)

func zipfSequence(seed uint64, n int) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed)), zipfS, 1, zipfKeys-1)
	seq := make([]uint64, n)
	for i := range seq {
		seq[i] = z.Uint64()
	}
	return seq
}

// BenchmarkZipf reads keys of a Zipf distribution over 100,000 records through L1 (10,000
// entries) and Redis, loading misses from the source, after a warm-up with another sequence of
// the same distribution. loads/op is the share of reads that reached the source.
func BenchmarkZipf(b *testing.B) {
	libs := build(b, []string{"strata", "goredis-cache", "jetcache", "gocache"}, true, true, 0)
	ctx := context.Background()
	keys := make([]string, zipfKeys)
	for i := range keys {
		keys[i] = key(int64(i))
	}
	seq, warmSeq := zipfSequence(1, zipfSeq), zipfSequence(2, zipfWarm)
	cs := make([]contender, len(libs))
	for j, l := range libs {
		s := l.s
		cs[j] = contender{id: l.id, loads: l.loads, op: func(i int) error {
			id := seq[i%len(seq)]
			v, err := s.load(ctx, keys[id])
			if err == nil && v.ID != int64(id) {
				err = fmt.Errorf("got record %d, want %d", v.ID, id)
			}
			sink = v
			return err
		}}
		for _, id := range warmSeq {
			if _, err := s.load(ctx, keys[id]); err != nil {
				b.Fatalf("%s: warm-up: %v", l.id, err)
			}
		}
		l.loads.Store(0)
	}
	interleave(b, 2000, cs)
}

// batcher is a library's batch read: the values of ids, the missing ones loaded with one
// source call; store puts records in Redis only, as another instance would.
type batcher interface {
	call(ctx context.Context, ids []int64) (map[int64]Record, error)
	store(ctx context.Context, ids []int64) error
}

// Batch workload: batchSize IDs per call, the first batchInRedis of them in Redis only, the
// others nowhere.
const (
	batchSize    = 100
	batchInRedis = 90
)

// BenchmarkBatch reads 100 IDs at once, 90 of them in Redis only (written just before, untimed,
// by another instance of the same library) and 10 new, through L1 + Redis. loads/op is the
// source calls per batch. jetcache-go runs twice: with its TinyLFU local cache like everywhere
// else here (which waits for ristretto's buffers after every local write), and with the
// FreeCache of its README (jetcache-freecache).
func BenchmarkBatch(b *testing.B) {
	ctx := context.Background()
	type lib struct {
		id    string
		b     batcher
		calls *atomic.Int64
	}
	var libs []lib
	{
		calls := new(atomic.Int64)
		rdb := newClient(b)
		p := newPrefix(b, rdb, "strata")
		s, err := newStrata(setup{l1: true, rdb: rdb, prefix: p})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.close)
		w, err := newStrata(setup{rdb: newClient(b), prefix: p})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.close)
		sb, err := newStrataBatch(s, w, countingBatchSource(calls))
		if err != nil {
			b.Fatal(err)
		}
		libs = append(libs, lib{"strata", sb, calls})
	}
	for _, id := range []string{"jetcache", "jetcache-freecache"} {
		calls := new(atomic.Int64)
		rdb := newClient(b)
		p := newPrefix(b, rdb, id)
		var j *jetcacheStack
		if id == "jetcache" {
			j = newJetcache(setup{l1: true, rdb: rdb, prefix: p}, jetcacheTinyLFUSize)
		} else {
			j = newJetcacheFreeCache(setup{l1: true, rdb: rdb, prefix: p})
		}
		b.Cleanup(j.close)
		w := newJetcache(setup{rdb: newClient(b), prefix: p}, jetcacheTinyLFUSize)
		b.Cleanup(w.close)
		libs = append(libs, lib{id, newJetcacheBatch(j, w, countingBatchSource(calls)), calls})
	}
	cs := make([]contender, len(libs))
	for j, l := range libs {
		ids := make([]int64, batchSize)
		cs[j] = contender{id: l.id, loads: l.calls,
			prep: func(i int) error {
				for k := range ids {
					ids[k] = int64(i)*batchSize + int64(k)
				}
				return l.b.store(ctx, ids[:batchInRedis])
			},
			op: func(int) error {
				got, err := l.b.call(ctx, ids)
				if err == nil && len(got) != batchSize {
					err = fmt.Errorf("got %d records, want %d", len(got), batchSize)
				}
				return err
			},
		}
	}
	warm(b, cs, 1<<30, 3)
	interleave(b, 5, cs)
}

// countingBatchSource is a batch source: one call returns the records of all its IDs.
func countingBatchSource(calls *atomic.Int64) func(ctx context.Context, ids []int64) (map[int64]Record, error) {
	return func(_ context.Context, ids []int64) (map[int64]Record, error) {
		calls.Add(1)
		out := make(map[int64]Record, len(ids))
		for _, id := range ids {
			out[id] = recordOf(id)
		}
		return out, nil
	}
}
