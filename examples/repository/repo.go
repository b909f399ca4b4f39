package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// User is a row of the users table.
type User struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Repo is a plain repository on PostgreSQL, unaware of any cache.
type Repo struct {
	pool    *pgxpool.Pool
	table   string // sanitized identifier
	queries atomic.Int64
}

// NewRepo returns a repository on table, creating the table when it does not exist.
func NewRepo(ctx context.Context, pool *pgxpool.Pool, table string) (*Repo, error) {
	r := &Repo{pool: pool, table: pgx.Identifier{table}.Sanitize()}
	_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+r.table+` (
		id    bigint PRIMARY KEY,
		name  text NOT NULL,
		email text NOT NULL
	)`)
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", r.table, err)
	}
	return r, nil
}

// Fill makes the table hold users 1..n.
func (r *Repo) Fill(ctx context.Context, n int) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO `+r.table+` (id, name, email)
		SELECT i, 'user-' || i, 'user' || i || '@example.com' FROM generate_series(1, $1::bigint) AS i
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email`, n)
	if err != nil {
		return fmt.Errorf("fill %s: %w", r.table, err)
	}
	return nil
}

// Drop removes the table.
func (r *Repo) Drop(ctx context.Context) error {
	_, err := r.pool.Exec(ctx, `DROP TABLE IF EXISTS `+r.table)
	return err
}

// User returns one user; pgx.ErrNoRows when there is none.
func (r *Repo) User(ctx context.Context, id int64) (User, error) {
	r.queries.Add(1)
	var u User
	err := r.pool.QueryRow(ctx, `SELECT id, name, email FROM `+r.table+` WHERE id = $1`, id).Scan(&u.ID, &u.Name, &u.Email)
	return u, err
}

// Users returns the users among ids that exist.
func (r *Repo) Users(ctx context.Context, ids []int64) (map[int64]User, error) {
	r.queries.Add(1)
	rows, err := r.pool.Query(ctx, `SELECT id, name, email FROM `+r.table+` WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) {
		var u User
		return u, row.Scan(&u.ID, &u.Name, &u.Email)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[int64]User, len(list))
	for _, u := range list {
		out[u.ID] = u
	}
	return out, nil
}

// Rename changes a user's name.
func (r *Repo) Rename(ctx context.Context, id int64, name string) error {
	tag, err := r.pool.Exec(ctx, `UPDATE `+r.table+` SET name = $2 WHERE id = $1`, id, name)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return err
}

// Queries is how many queries the repository has run.
func (r *Repo) Queries() int64 { return r.queries.Load() }
