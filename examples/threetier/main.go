// Command threetier runs strata with three tiers — otter in process, an embedded disk tier
// (Pebble) and Redis shared between instances — and shows what the disk tier is for: a process
// that restarts finds its entries on local disk, even when Redis no longer has them.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/threetier
//
// REDIS_URL defaults to redis://127.0.0.1:6379/0. The disk tier lives in STRATA_DISK_DIR, or in a
// temporary directory removed at exit. The example writes under a namespace of its own and removes
// its Redis keys at the end.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/tiered"
	disktier "github.com/stratacache/strata/tiered/disk"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// DefaultRedisURL is used when REDIS_URL is not set.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

func main() {
	cfg := config{redisURL: os.Getenv("REDIS_URL"), dir: os.Getenv("STRATA_DISK_DIR")}
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "threetier:", err)
		os.Exit(1)
	}
}

type config struct {
	redisURL  string
	dir       string // the disk tier's directory; empty: a temporary one
	namespace string // empty: one of its own
	products  int    // how many products to read; zero: 200
}

// Product is what the slow "database" returns.
type Product struct {
	ID    int     `json:"id"`
	Name  string  `json:"name"`
	Price float64 `json:"price"`
}

// Catalogue stands for a database: every load takes a few milliseconds and is counted.
type Catalogue struct{ loads atomic.Int64 }

// Product loads product id.
func (c *Catalogue) Product(ctx context.Context, id int) (Product, error) {
	c.loads.Add(1)
	select {
	case <-time.After(2 * time.Millisecond):
	case <-ctx.Done():
		return Product{}, ctx.Err()
	}
	return Product{ID: id, Name: fmt.Sprintf("product %d", id), Price: float64(id) * 1.25}, nil
}

// instance is one process's cache: its three tiers and what it must close.
type instance struct {
	cache *tiered.Cache
	disk  *disktier.Backend
	close func() error
}

// start builds the cache of one process: otter (64 MiB) → disk (1 GiB, entries kept twice as
// long as in the other tiers) → Redis.
func start(rdb redis.UniversalClient, dir, namespace string) (*instance, error) {
	l1, err := ottertier.New(ottertier.Options{MaxBytes: 64 << 20})
	if err != nil {
		return nil, err
	}
	disk, err := disktier.Open(dir, disktier.Options{MaxBytes: 1 << 30})
	if err != nil {
		l1.Close()
		return nil, err
	}
	l3, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		l1.Close()
		return nil, errors.Join(err, disk.Close())
	}
	cache, err := tiered.New(tiered.Options{
		Namespace: namespace,
		Tiers: []tiered.Tier{
			{Backend: l1},
			{Backend: disk, TTLScale: 2, Timeout: 50 * time.Millisecond},
			{Backend: l3, Timeout: 50 * time.Millisecond},
		},
	})
	if err != nil {
		l1.Close()
		return nil, errors.Join(err, disk.Close())
	}
	var once sync.Once
	var closeErr error
	return &instance{cache: cache, disk: disk, close: func() error {
		once.Do(func() {
			closeErr = cache.Close()
			l1.Close()
			closeErr = errors.Join(closeErr, disk.Close())
		})
		return closeErr
	}}, nil
}

// readAll reads every product through the cache and reports how long it took.
func readAll(ctx context.Context, c *tiered.Cache, db *Catalogue, n int) (time.Duration, error) {
	t0 := time.Now()
	for id := 1; id <= n; id++ {
		p, err := tiered.Load(ctx, c, fmt.Sprintf("product:%d", id), tiered.MediumTerm, func(ctx context.Context) (Product, error) {
			return db.Product(ctx, id)
		})
		if err != nil {
			return 0, err
		}
		if p.ID != id {
			return 0, fmt.Errorf("product %d read as %+v", id, p)
		}
	}
	return time.Since(t0), nil
}

func hits(c *tiered.Cache) string {
	s := c.Stats()
	return fmt.Sprintf("L1 %d, disk %d, redis %d", s.Tiers[0].Hits, s.Tiers[1].Hits, s.Tiers[2].Hits)
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	if cfg.redisURL == "" {
		cfg.redisURL = DefaultRedisURL
	}
	if cfg.products == 0 {
		cfg.products = 200
	}
	if cfg.namespace == "" {
		cfg.namespace = fmt.Sprintf("strata-example:threetier:%d:", time.Now().UnixNano())
	}
	if cfg.dir == "" {
		dir, err := os.MkdirTemp("", "strata-threetier-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.dir = dir
	}
	opt, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return err
	}
	opt.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w (set REDIS_URL)", cfg.redisURL, err)
	}
	db := &Catalogue{}
	n := cfg.products

	// The first process starts cold: every product comes from the database and is written to
	// all three tiers.
	p1, err := start(rdb, cfg.dir, cfg.namespace)
	if err != nil {
		return err
	}
	d, err := readAll(ctx, p1.cache, db, n)
	if err != nil {
		return errors.Join(err, p1.close())
	}
	fmt.Fprintf(w, "first process, cold:   %d products in %v, %d database loads\n", n, d.Round(time.Millisecond), db.loads.Load())
	d, err = readAll(ctx, p1.cache, db, n)
	if err != nil {
		return errors.Join(err, p1.close())
	}
	fmt.Fprintf(w, "first process, warm:   %d products in %v, hits: %s\n", n, d.Round(time.Millisecond), hits(p1.cache))
	if err := p1.close(); err != nil {
		return err
	}
	fmt.Fprintln(w, "first process stopped")

	// Meanwhile Redis loses the entries (a flush, a failover, an eviction).
	only, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		return err
	}
	redisOnly, err := tiered.New(tiered.Options{Namespace: cfg.namespace, Tiers: []tiered.Tier{{Backend: only}}})
	if err != nil {
		return err
	}
	defer func() { _ = redisOnly.InvalidateAll(context.WithoutCancel(ctx)); _ = redisOnly.Close() }()
	if err := redisOnly.InvalidateAll(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "redis lost the entries")

	// The second process starts with an empty L1, but its disk tier is warm.
	loads := db.loads.Load()
	t0 := time.Now()
	p2, err := start(rdb, cfg.dir, cfg.namespace)
	if err != nil {
		return err
	}
	defer p2.close()
	opened := time.Since(t0)
	fmt.Fprintf(w, "second process: disk tier reopened with %d entries in %v\n", p2.disk.Stats().Entries, opened.Round(time.Millisecond))
	d, err = readAll(ctx, p2.cache, db, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "second process, first: %d products in %v, %d database loads, hits: %s\n", n, d.Round(time.Millisecond), db.loads.Load()-loads, hits(p2.cache))
	d, err = readAll(ctx, p2.cache, db, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "second process, again: %d products in %v, hits: %s\n", n, d.Round(time.Millisecond), hits(p2.cache))
	return p2.close()
}
