// Command repository wraps a small PostgreSQL repository (through pgx) with strata's decorate
// package — one line per method — and prints the latencies of its reads before and after.
//
// It reads DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and,
// when set, REDIS_URL (redis://127.0.0.1:6379/0, say) to add Redis as the shared L2:
//
//	go run ./examples/repository
//
// It creates and fills the table strata_example_users.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// DefaultDatabaseURL is used when DATABASE_URL is not set.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func main() {
	cfg := config{
		databaseURL: os.Getenv("DATABASE_URL"),
		redisURL:    os.Getenv("REDIS_URL"),
		table:       "strata_example_users",
	}
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "repository:", err)
		os.Exit(1)
	}
}

type config struct {
	databaseURL string
	redisURL    string
	table       string
}

// CachedRepo is the repository's read side, cached. Both wrappers use the name "users.byID", so
// they share entries: a user loaded by a batch is a hit for a single read, and the other way round.
type CachedRepo struct {
	User  *decorate.Cached[int64, User]
	Users *decorate.Batched[int64, User]
}

// NewCachedRepo wraps repo's reads.
func NewCachedRepo(cache *tiered.Cache, repo *Repo) (*CachedRepo, error) {
	o := decorate.Options{
		Name:     "users.byID",
		Strategy: tiered.MediumTerm.WithJitter(0.1).WithNegativeTTL(time.Minute).WithRefreshAhead(5 * time.Minute),
		// The default NotFound list (sql.ErrNoRows) recognises pgx.ErrNoRows, which wraps it, and a
		// cached "not found" still answers errors.Is(err, pgx.ErrNoRows).
	}
	batch, err := decorate.Batch(cache, repo.Users, o)
	if err != nil {
		return nil, err
	}
	one, err := decorate.Func(cache, repo.User, o)
	if err != nil {
		return nil, err
	}
	return &CachedRepo{User: one, Users: batch}, nil
}

// Connect opens a pgx pool on url (DefaultDatabaseURL when empty) and checks it answers. When it
// does not, the error names PostgreSQL, its address and the fix.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	from := "DATABASE_URL"
	if url == "" {
		url, from = DefaultDatabaseURL, "DATABASE_URL unset: the default"
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PostgreSQL URL (want postgres://user@host:port/database): %w", from, err)
	}
	hostPort := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	unreachable := func(err error) error {
		return &connect.Error{Server: "PostgreSQL", Addr: hostPort + "/" + cfg.ConnConfig.Database, From: from, Err: err,
			Fix: "run scripts/ensure-postgres (it installs PostgreSQL if needed and starts it there), or set DATABASE_URL to a running server"}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !strings.HasPrefix(cfg.ConnConfig.Host, "/") { // not a Unix socket directory
		// A plain dial first: pgx reports a refused connection once per attempt, on many lines.
		conn, err := (&net.Dialer{}).DialContext(pctx, "tcp", hostPort)
		if err != nil {
			return nil, unreachable(err)
		}
		_ = conn.Close()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		if pctx.Err() != nil {
			return nil, unreachable(err)
		}
		return nil, &connect.Error{Server: "PostgreSQL", Addr: hostPort + "/" + cfg.ConnConfig.Database, From: from, Err: err,
			Problem: "refused the connection",
			Fix:     "check the user, password and database in DATABASE_URL (scripts/ensure-postgres creates the role and the database)"}
	}
	return pool, nil
}

// NewCache builds an otter L1 over Redis when rdb is set, the embedded in-process cache otherwise.
func NewCache(rdb redis.UniversalClient, namespace string) (*tiered.Cache, func(), error) {
	if rdb == nil {
		c, err := tiered.New(tiered.Options{Namespace: namespace})
		if err != nil {
			return nil, nil, err
		}
		return c, func() { _ = c.Close() }, nil
	}
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 100_000})
	if err != nil {
		return nil, nil, err
	}
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		l1.Close()
		return nil, nil, err
	}
	c, err := tiered.New(tiered.Options{Namespace: namespace, Tiers: []tiered.Tier{{Backend: l1}, {Backend: l2}}})
	if err != nil {
		l1.Close()
		return nil, nil, err
	}
	return c, func() { _ = c.Close(); l1.Close() }, nil
}

func run(ctx context.Context, out io.Writer, cfg config) error {
	pool, err := Connect(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	var rdb *redis.Client
	tiers := "L1 otter (set REDIS_URL to add Redis as L2)"
	if cfg.redisURL != "" {
		rdb, err = connect.Redis(ctx, cfg.redisURL, "REDIS_URL", "to use the in-process cache alone")
		if err != nil {
			return err
		}
		defer rdb.Close()
		tiers = "L1 otter, L2 redis"
	}

	repo, err := NewRepo(ctx, pool, cfg.table)
	if err != nil {
		return err
	}
	const users = 1000
	if err := repo.Fill(ctx, users); err != nil {
		return err
	}
	var l2 redis.UniversalClient // stays a nil interface without Redis
	if rdb != nil {
		l2 = rdb
	}
	cache, closeCache, err := NewCache(l2, fmt.Sprintf("repository:%d:", time.Now().UnixNano()))
	if err != nil {
		return err
	}
	defer closeCache()
	cached, err := NewCachedRepo(cache, repo)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "strata repository example — PostgreSQL through pgx, %d users; tiers: %s\n", users, tiers)

	// Single reads.
	direct, err := average(200, func(i int) error { _, err := repo.User(ctx, int64(1+i%users)); return err })
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := cached.User.Call(ctx, 42); err != nil {
		return err
	}
	first := time.Since(start)
	hit, err := average(100_000, func(int) error { _, err := cached.User.Call(ctx, 42); return err })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  User(id)       query %9v   cached: first call %9v, then %9v (%.0fx faster)\n",
		round(direct), round(first), hit, float64(direct)/float64(max(hit, 1)))

	// Batch reads.
	ids := make([]int64, 100)
	for i := range ids {
		ids[i] = int64(101 + i)
	}
	directBatch, err := average(50, func(int) error { _, err := repo.Users(ctx, ids); return err })
	if err != nil {
		return err
	}
	start = time.Now()
	if _, err := cached.Users.Call(ctx, ids); err != nil {
		return err
	}
	firstBatch := time.Since(start)
	hitBatch, err := average(2000, func(int) error { _, err := cached.Users.Call(ctx, ids); return err })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  Users(100 ids) query %9v   cached: first call %9v, then %9v (%.0fx faster)\n",
		round(directBatch), round(firstBatch), round(hitBatch), float64(directBatch)/float64(max(hitBatch, 1)))

	// A batch that overlaps what is cached asks the database for the rest only.
	before := repo.Queries()
	overlap := append(ids[50:], 1001, 1002) // 1001 and 1002 do not exist
	got, err := cached.Users.Call(ctx, append(overlap, 7))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  Users(53 ids, 50 cached) -> %d users, %d query for the 3 others (1001, 1002 cached as missing)\n",
		len(got), repo.Queries()-before)

	// Not found: the same error, cached.
	before = repo.Queries()
	for range 3 {
		if _, err := cached.User.Call(ctx, 1001); !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user 1001: %v, want pgx.ErrNoRows", err)
		}
	}
	fmt.Fprintf(out, "  User(1001)     3 calls -> pgx.ErrNoRows each time, %d queries (cached by the batch above)\n", repo.Queries()-before)

	// A stampede on a cold key.
	before = repo.Queries()
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(func() { _, _ = cached.User.Call(ctx, 500) })
	}
	wg.Wait()
	fmt.Fprintf(out, "  stampede       1000 concurrent User(500) -> %d query\n", repo.Queries()-before)

	// Writes invalidate by argument.
	if err := repo.Rename(ctx, 42, "renamed"); err != nil {
		return err
	}
	if err := cached.User.Invalidate(ctx, 42); err != nil {
		return err
	}
	u, err := cached.User.Call(ctx, 42)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  after Rename + Invalidate(42): %q\n", u.Name)
	if err := repo.Fill(ctx, users); err != nil { // restore the name for the next run
		return err
	}

	s := cache.Stats()
	fmt.Fprintf(out, "  cache          requests=%d hits=%d misses=%d coalesced=%d negative-hits=%d hit-rate=%.1f%%\n",
		s.Requests, s.Hits, s.Misses, s.Coalesced, s.NegativeHits, 100*s.HitRate)
	return nil
}

// average runs fn n times and returns the mean duration.
func average(n int, fn func(i int) error) (time.Duration, error) {
	start := time.Now()
	for i := range n {
		if err := fn(i); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

func round(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
