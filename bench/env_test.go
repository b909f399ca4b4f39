package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/bench/internal/redisserver"
)

// The workload every library is built for.
const (
	l1Entries = 10_000    // entries of every in-process tier
	ttl       = time.Hour // TTL of every entry, in every tier
)

// source loads the value of a key on a miss in every tier.
type source func(ctx context.Context, key string) (Record, error)

// setup says how a library is built for a workload.
type setup struct {
	l1     bool          // an in-process tier of l1Entries entries
	rdb    *redis.Client // a Redis tier, when non-nil
	prefix string        // starts every Redis key, keeping the libraries apart in one server
	src    source        // the loader of a miss
}

// stack is a library built for a workload, behind the call an application makes.
type stack interface {
	// load returns the value of key through every tier, with the library's get-or-load call:
	// the source is called on a miss everywhere, with the library's stampede protection.
	load(ctx context.Context, key string) (Record, error)
	// set writes the value of key to every tier.
	set(ctx context.Context, key string, v Record) error
	close()
}

var server struct {
	once sync.Once
	srv  *redisserver.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server.srv != nil {
		server.srv.Close()
	}
	os.Exit(code)
}

// newClient returns a go-redis client of the benchmarks' Redis, started on first use. Every
// library gets a client of its own, built with the same options.
func newClient(tb testing.TB) *redis.Client {
	tb.Helper()
	server.once.Do(func() { server.srv, server.err = redisserver.Start() })
	if server.err != nil {
		tb.Fatal(server.err)
	}
	o := server.srv.Options()
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

var prefixes atomic.Int64

// newPrefix returns a Redis key prefix no other benchmark uses, and removes its keys when tb ends.
func newPrefix(tb testing.TB, rdb *redis.Client, lib string) string {
	p := fmt.Sprintf("bench%d:%s:", prefixes.Add(1), lib)
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, p+"*", 1000).Iterator()
		var keys []string
		flush := func() {
			if len(keys) > 0 {
				_ = rdb.Unlink(ctx, keys...).Err()
				keys = keys[:0]
			}
		}
		for iter.Next(ctx) {
			if keys = append(keys, iter.Val()); len(keys) == 1000 {
				flush()
			}
		}
		flush()
	})
	return p
}

// recordSource returns a source that counts its calls in loads and returns the record of the
// key's number after delay. Keys are "k<number>".
func recordSource(loads *atomic.Int64, delay time.Duration) source {
	return func(ctx context.Context, key string) (Record, error) {
		loads.Add(1)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Record{}, ctx.Err()
			}
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(key, "k"), 10, 64)
		if err != nil {
			return Record{}, fmt.Errorf("bad key %q: %w", key, err)
		}
		return recordOf(id), nil
	}
}

var baseRecord = NewRecord(1)

// recordOf returns a record of id cheaply: baseRecord with its ID changed, sharing its slices
// and map (which nobody mutates), so that the source costs the same little for every library.
func recordOf(id int64) Record {
	r := baseRecord
	r.ID = id
	return r
}

// key is the key of record id.
func key(id int64) string { return "k" + strconv.FormatInt(id, 10) }
