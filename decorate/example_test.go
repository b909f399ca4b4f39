package decorate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/tiered"
)

type User struct {
	ID   int64
	Name string
}

// Repo stands for a repository on a database.
type Repo struct{ queries int }

func (r *Repo) User(ctx context.Context, id int64) (User, error) {
	r.queries++
	if id > 100 {
		return User{}, sql.ErrNoRows
	}
	return User{ID: id, Name: fmt.Sprint("user-", id)}, nil
}

func (r *Repo) Users(ctx context.Context, ids []int64) (map[int64]User, error) {
	r.queries++
	out := make(map[int64]User, len(ids))
	for _, id := range ids {
		if id <= 100 {
			out[id] = User{ID: id, Name: fmt.Sprint("user-", id)}
		}
	}
	return out, nil
}

func ExampleFunc() {
	cache, err := tiered.New(tiered.Options{}) // in-process only; add a Redis tier to share it
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	repo := &Repo{}
	users, err := decorate.Func(cache, repo.User, decorate.Options{
		Name:     "users.byID",
		Strategy: tiered.MediumTerm.WithNegativeTTL(time.Minute),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 3 {
		u, _ := users.Call(ctx, 42)
		fmt.Println(u.Name)
	}
	for range 2 {
		_, err := users.Call(ctx, 404)
		fmt.Println(errors.Is(err, sql.ErrNoRows))
	}
	fmt.Println("queries:", repo.queries)

	_ = users.Invalidate(ctx, 42) // the next call queries again
	_, _ = users.Call(ctx, 42)
	fmt.Println("queries:", repo.queries, "key:", users.Key(42))
	// Output:
	// user-42
	// user-42
	// user-42
	// true
	// true
	// queries: 2
	// queries: 3 key: users.byID(i42;)
}

func ExampleBatch() {
	cache, err := tiered.New(tiered.Options{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	repo := &Repo{}
	users, err := decorate.Batch(cache, repo.Users, decorate.Options{
		Name:     "users.byID",
		Strategy: tiered.MediumTerm.WithNegativeTTL(time.Minute),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	got, _ := users.Call(ctx, []int64{1, 2, 3})
	fmt.Println(len(got), "users,", repo.queries, "query")

	// 2 and 3 are cached, 101 does not exist: one query, for 4 and 101 only.
	got, _ = users.Call(ctx, []int64{2, 3, 4, 101})
	ids := make([]int64, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fmt.Println(ids, repo.queries, "queries")

	// 101 is now a cached "not found": no query at all.
	got, _ = users.Call(ctx, []int64{4, 101})
	fmt.Println(len(got), "user,", repo.queries, "queries")
	// Output:
	// 3 users, 1 query
	// [2 3 4] 2 queries
	// 1 user, 2 queries
}
