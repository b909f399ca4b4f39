// Command quickstart shows what strata does in a few lines: a slow load, L1 and L2 hits with their
// latencies, a stampede of concurrent callers coalesced into one load, and the statistics.
//
// It runs on the embedded in-process cache alone; with REDIS_URL set (redis://127.0.0.1:6379/0,
// say) Redis becomes the shared L2 and a second cache instance, standing for another process, is
// served from it; each instance's stats follow what it did.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// User is what the slow "database" returns.
type User struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

var dbCalls atomic.Int64

// loadUser stands for a slow database query.
func loadUser(ctx context.Context, id int64) (User, error) {
	dbCalls.Add(1)
	select {
	case <-time.After(150 * time.Millisecond):
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	return User{ID: id, Name: fmt.Sprintf("user-%d", id), Email: fmt.Sprintf("user%d@example.com", id)}, nil
}

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv("REDIS_URL")); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, redisURL string) error {
	var rdb *redis.Client
	if redisURL != "" {
		var err error
		rdb, err = connect.Redis(ctx, redisURL, "REDIS_URL", "to run on the in-process cache alone")
		if err != nil {
			return err
		}
		defer rdb.Close()
	}
	namespace := fmt.Sprintf("quickstart:%d:", time.Now().UnixNano())
	cache, closeCache, err := newCache(rdb, namespace)
	if err != nil {
		return err
	}
	defer closeCache()

	if rdb == nil {
		fmt.Fprintln(out, "strata quickstart — tiers: L1 otter (set REDIS_URL to add Redis as L2)")
	} else {
		fmt.Fprintln(out, "strata quickstart — tiers: L1 otter, L2 redis")
	}

	load := func(ctx context.Context) (User, error) { return loadUser(ctx, 42) }

	start := time.Now()
	u, err := tiered.Load(ctx, cache, "user:42", tiered.ShortTerm, load)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  first read   %-8s %9v  (loaded from the slow source: %s)\n", "miss", round(time.Since(start)), u.Name)

	start = time.Now()
	const n = 10000
	for range n {
		if _, err := tiered.Load(ctx, cache, "user:42", tiered.ShortTerm, load); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "  next read    %-8s %9v  (average of %d reads, no decoding)\n", "L1 hit", time.Since(start)/n, n)

	before := dbCalls.Load()
	const callers = 1000
	var wg sync.WaitGroup
	start = time.Now()
	for range callers {
		wg.Go(func() {
			_, _ = tiered.Load(ctx, cache, "user:7", tiered.ShortTerm, func(ctx context.Context) (User, error) {
				return loadUser(ctx, 7)
			})
		})
	}
	wg.Wait()
	fmt.Fprintf(out, "  stampede     %d concurrent callers on a cold key -> %d source call(s) in %v\n",
		callers, dbCalls.Load()-before, round(time.Since(start)))
	printStats(out, "stats", cache.Stats())

	if rdb != nil {
		// A second instance, as another process would be: its own L1, the same Redis.
		other, closeOther, err := newCache(rdb, namespace)
		if err != nil {
			return err
		}
		defer closeOther()
		start = time.Now()
		if _, err := tiered.Load(ctx, other, "user:42", tiered.ShortTerm, load); err != nil {
			return err
		}
		fmt.Fprintf(out, "  2nd instance %-8s %9v  (from Redis, promoted into its own L1 with the remaining TTL)\n", "L2 hit", round(time.Since(start)))
		printStats(out, "its stats", other.Stats())
	}
	return nil
}

// printStats prints a cache's counters, then each tier's.
func printStats(out io.Writer, title string, s tiered.Stats) {
	fmt.Fprintf(out, "  %-12s requests=%d hits=%d misses=%d coalesced=%d loads=%d hit-rate=%.1f%%\n",
		title, s.Requests, s.Hits, s.Misses, s.Coalesced, s.Loads, 100*s.HitRate)
	for _, t := range s.Tiers {
		fmt.Fprintf(out, "               L%d %-6s hits=%d promotions=%d errors=%d breaker=%s\n",
			t.Level+1, t.Name, t.Hits, t.Promotions, t.Errors, t.Breaker)
	}
}

// newCache builds one instance: the embedded in-process cache alone, or — one call — an otter
// L1 over Redis with the invalidation bus. Close closes what the constructor built; the Redis
// client stays ours.
func newCache(rdb *redis.Client, namespace string) (*tiered.Cache, func(), error) {
	var c *tiered.Cache
	var err error
	if rdb == nil {
		c, err = tiered.New(tiered.Options{})
	} else {
		c, err = redistier.NewCache(rdb, tiered.Options{Namespace: namespace})
	}
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
