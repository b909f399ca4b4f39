package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// connect returns a pool on DATABASE_URL (or the default). A missing PostgreSQL fails the test:
// CI provides one with scripts/ensure-postgres.
func connect(t *testing.T) *pgxpool.Pool {
	t.Helper()
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
	pool := connect(t)
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
	pool := connect(t)
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
