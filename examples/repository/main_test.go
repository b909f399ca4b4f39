package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// openPool returns a pool on DATABASE_URL (or the default). A missing PostgreSQL fails the test
// (`make test` provides one with scripts/ensure-postgres); in -short mode, without DATABASE_URL,
// the test is skipped instead.
func openPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	if testing.Short() && os.Getenv("DATABASE_URL") == "" {
		t.Skip("needs PostgreSQL: skipped in -short mode without DATABASE_URL (make test starts one with scripts/ensure-postgres)")
	}
	pool, err := Connect(t.Context(), os.Getenv("DATABASE_URL"))
	if err != nil {
		t.Fatalf("%v\nthis test needs a real PostgreSQL: run scripts/ensure-postgres, or set DATABASE_URL", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newRepo creates a table of its own for the test and drops it afterwards.
func newRepo(t *testing.T, pool *pgxpool.Pool) *Repo {
	t.Helper()
	table := fmt.Sprintf("strata_test_users_%d_%d", os.Getpid(), time.Now().UnixNano())
	repo, err := NewRepo(t.Context(), pool, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Drop(context.Background()) })
	if err := repo.Fill(t.Context(), 100); err != nil {
		t.Fatal(err)
	}
	return repo
}

func TestRun(t *testing.T) {
	pool := openPool(t)
	pool.Close()
	var out bytes.Buffer
	table := fmt.Sprintf("strata_test_run_%d", os.Getpid())
	err := run(t.Context(), &out, config{databaseURL: os.Getenv("DATABASE_URL"), redisURL: redistest.Shared(t).URL(), table: table})
	t.Cleanup(func() {
		if p, err := Connect(context.Background(), os.Getenv("DATABASE_URL")); err == nil {
			_, _ = p.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize())
			p.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		"tiers: L1 otter, L2 redis",
		"1 query for the 3 others",
		"pgx.ErrNoRows each time, 0 queries",
		"1000 concurrent User(500) -> 1 query",
		`Invalidate(42): "renamed"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestCachedRepository(t *testing.T) {
	pool := openPool(t)
	repo := newRepo(t, pool)
	srv := redistest.Shared(t)
	namespace := fmt.Sprintf("repotest:%d:", time.Now().UnixNano())
	cache, closeCache, err := NewCache(srv.Client(t), namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeCache)
	c, err := NewCachedRepo(cache, repo)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// Coalescing against the database.
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Go(func() {
			u, err := c.User.Call(ctx, 7)
			if err == nil && u.Name != "user-7" {
				err = fmt.Errorf("got %+v", u)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if q := repo.Queries(); q != 1 {
		t.Fatalf("1000 concurrent reads ran %d queries", q)
	}

	// Not found: pgx.ErrNoRows from the database, then from the cache an error that a 404 handler's
	// errors.Is(err, pgx.ErrNoRows) still recognises (as well as sql.ErrNoRows).
	if _, err := c.User.Call(ctx, 4242); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("missing user: %v", err)
	}
	if _, err := c.User.Call(ctx, 4242); !errors.Is(err, pgx.ErrNoRows) || !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("cached missing user: %v, want one that errors.Is pgx.ErrNoRows and sql.ErrNoRows", err)
	}
	if q := repo.Queries(); q != 2 {
		t.Fatalf("queries %d, want 2", q)
	}

	// Batches ask the database for what no tier holds; single and batch reads share entries.
	got, err := c.Users.Call(ctx, []int64{5, 6, 7, 8, 4242, 4243})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[7].Name != "user-7" {
		t.Fatalf("batch: %v", got)
	}
	if q := repo.Queries(); q != 3 {
		t.Fatalf("queries %d, want 3", q)
	}
	if u, err := c.User.Call(ctx, 5); err != nil || u.Name != "user-5" || repo.Queries() != 3 {
		t.Fatalf("single read of a batch entry: %+v, %v, queries %d", u, err, repo.Queries())
	}
	if _, err := c.User.Call(ctx, 4243); !errors.Is(err, pgx.ErrNoRows) || repo.Queries() != 3 {
		t.Fatalf("single read of a batch miss: %v, queries %d", err, repo.Queries())
	}

	// A write followed by invalidation by argument.
	if err := repo.Rename(ctx, 7, "seven"); err != nil {
		t.Fatal(err)
	}
	if u, _ := c.User.Call(ctx, 7); u.Name != "user-7" {
		t.Fatalf("before invalidation: %+v", u)
	}
	if err := c.User.Invalidate(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if u, _ := c.User.Call(ctx, 7); u.Name != "seven" {
		t.Fatalf("after invalidation: %+v", u)
	}
}

// TestConnectUnreachable: without a PostgreSQL at the address, the error names it and the fix.
func TestConnectUnreachable(t *testing.T) {
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := Connect(t.Context(), "postgres://postgres@"+addr+"/test?sslmode=disable&connect_timeout=3")
	if err == nil {
		pool.Close()
		t.Fatal("connected to nothing")
	}
	for _, want := range []string{"PostgreSQL at " + addr + "/test (DATABASE_URL) does not answer: ", "connection refused",
		"fix: run scripts/ensure-postgres (it installs PostgreSQL if needed and starts it there), or set DATABASE_URL to a running server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := Connect(t.Context(), "mysql://x"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL: not a PostgreSQL URL") {
		t.Errorf("bad URL: %v", err)
	}
}

// TestRunRedisUnreachable names Redis, the address and the fix (after PostgreSQL answered).
func TestRunRedisUnreachable(t *testing.T) {
	openPool(t)
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(t.Context(), &out, config{databaseURL: os.Getenv("DATABASE_URL"), redisURL: "redis://" + addr + "/0", table: "unused"})
	if err == nil || !strings.Contains(err.Error(), "Redis at "+addr+" (REDIS_URL) does not answer") {
		t.Fatalf("error %v", err)
	}
}

// TestConnectRefused reaches the real PostgreSQL as a role it does not have: the error says the
// server refused, and how to fix it.
func TestConnectRefused(t *testing.T) {
	openPool(t)
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		u = DefaultDatabaseURL
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	parsed.User = url.User("strata_no_such_role")
	pool, err := Connect(t.Context(), parsed.String())
	if err == nil {
		pool.Close()
		t.Fatal("connected as a role that does not exist")
	}
	for _, want := range []string{"(DATABASE_URL) refused the connection: ", "strata_no_such_role", "fix: check the user, password and database in DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
