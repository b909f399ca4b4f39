package decorate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/internal/loadwait"
	"github.com/stratacache/strata/tiered"
)

type user struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func TestCoalescing(t *testing.T) {
	e := newEnv(t, ns(t))
	var calls atomic.Int64
	release := make(chan struct{})
	byID, err := decorate.Func(e.cache, func(ctx context.Context, id int64) (user, error) {
		calls.Add(1)
		<-release
		return user{ID: id, Name: fmt.Sprint("u", id)}, nil
	}, decorate.Options{Name: "users.byID", Strategy: tiered.ShortTerm})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	base := loadwait.Blocked()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			u, err := byID.Call(t.Context(), 7)
			if err == nil && u.Name != "u7" {
				err = fmt.Errorf("got %+v", u)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	// Every caller waits on the one load (the first on its own detached load) before it finishes.
	loadwait.Wait(t, base+n)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("source called %d times for %d concurrent calls, want 1", got, n)
	}
	// A later call is an L1 hit.
	if _, err := byID.Call(t.Context(), 7); err != nil || calls.Load() != 1 {
		t.Fatalf("hit: err %v, calls %d", err, calls.Load())
	}
}

func TestKeyIsolation(t *testing.T) {
	e := newEnv(t, ns(t))
	var a, b atomic.Int64
	fa, err := decorate.Func(e.cache, func(ctx context.Context, id int64) (string, error) {
		a.Add(1)
		return fmt.Sprint("a", id), nil
	}, decorate.Options{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := decorate.Func(e.cache, func(ctx context.Context, id int64) (string, error) {
		b.Add(1)
		return fmt.Sprint("b", id), nil
	}, decorate.Options{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for id := int64(1); id <= 3; id++ {
			if v, err := fa.Call(t.Context(), id); err != nil || v != fmt.Sprint("a", id) {
				t.Fatalf("round %d: a(%d) = %q, %v", round, id, v, err)
			}
			if v, err := fb.Call(t.Context(), id); err != nil || v != fmt.Sprint("b", id) {
				t.Fatalf("round %d: b(%d) = %q, %v", round, id, v, err)
			}
		}
	}
	if a.Load() != 3 || b.Load() != 3 {
		t.Fatalf("source calls: a %d, b %d; want 3 each", a.Load(), b.Load())
	}
	if got := fa.Key(42); got != "a(i42;)" {
		t.Fatalf("Key(42) = %q", got)
	}

	// Arguments whose naive concatenations collide get distinct keys.
	f2, err := decorate.Func2(e.cache, func(ctx context.Context, x, y string) (string, error) {
		return x + "|" + y, nil
	}, decorate.Options{Name: "pair"})
	if err != nil {
		t.Fatal(err)
	}
	if k1, k2 := f2.Key("a", "bc"), f2.Key("ab", "c"); k1 == k2 {
		t.Fatalf("keys collide: %q", k1)
	}
	for _, p := range [][2]string{{"a", "bc"}, {"ab", "c"}, {"", "abc"}} {
		if v, err := f2.Call(t.Context(), p[0], p[1]); err != nil || v != p[0]+"|"+p[1] {
			t.Fatalf("pair%v = %q, %v", p, v, err)
		}
	}

	// Structs, pointers, slices and times: equal values share a key, different ones do not.
	type filter struct {
		Tenant string
		Tags   []string
		Since  time.Time
		Limit  *int
		Active bool
		Score  float64
	}
	ff, err := decorate.Func(e.cache, func(ctx context.Context, f filter) (int, error) { return 0, nil }, decorate.Options{Name: "filter"})
	if err != nil {
		t.Fatal(err)
	}
	ten, eleven := 10, 11
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	base := filter{Tenant: "t", Tags: []string{"x", "y"}, Since: when, Limit: &ten, Active: true, Score: 1.5}
	same := base
	same.Tags = []string{"x", "y"}
	same.Since = when.In(time.FixedZone("x", 3600))
	other := []filter{
		{Tenant: "t", Tags: []string{"xy"}, Since: when, Limit: &ten, Active: true, Score: 1.5},
		{Tenant: "t", Tags: []string{"x", "y"}, Since: when, Limit: &eleven, Active: true, Score: 1.5},
		{Tenant: "t", Tags: []string{"x", "y"}, Since: when, Active: true, Score: 1.5},
		{Tenant: "t", Tags: []string{"x", "y"}, Since: when.Add(1), Limit: &ten, Active: true, Score: 1.5},
		{Tenant: "t", Tags: []string{"x", "y"}, Since: when, Limit: &ten, Score: 1.5},
		{Tenant: "t", Tags: []string{"x", "y"}, Since: when, Limit: &ten, Active: true, Score: -1.5},
	}
	if ff.Key(base) != ff.Key(same) {
		t.Fatalf("equal values, different keys: %q vs %q", ff.Key(base), ff.Key(same))
	}
	seen := map[string]bool{ff.Key(base): true}
	for i, o := range other {
		k := ff.Key(o)
		if seen[k] {
			t.Fatalf("variant %d shares key %q", i, k)
		}
		seen[k] = true
	}

	// A KeyFunc replaces the encoding but keeps the name.
	fk, err := decorate.Func(e.cache, func(ctx context.Context, u user) (int64, error) { return u.ID, nil },
		decorate.Options{Name: "byUser", KeyFunc: func(u user) string { return fmt.Sprint(u.ID) }})
	if err != nil {
		t.Fatal(err)
	}
	if got := fk.Key(user{ID: 5, Name: "ignored"}); got != "byUser(5)" {
		t.Fatalf("KeyFunc key = %q", got)
	}
}

func TestWrapErrors(t *testing.T) {
	e := newEnv(t, ns(t))
	ctxFn := func(ctx context.Context, m map[string]int) (int, error) { return 0, nil }
	_, err := decorate.Func(e.cache, ctxFn, decorate.Options{Name: "m"})
	if !errors.Is(err, decorate.ErrUnsupportedArg) {
		t.Fatalf("map argument: %v", err)
	}
	// The message says it once, and names the wrapper.
	if msg := err.Error(); strings.Count(msg, "decorate:") != 1 || !strings.Contains(msg, `wrapper "m"`) {
		t.Fatalf("message %q", msg)
	}
	type withFunc struct{ F func() }
	if _, err := decorate.Func(e.cache, func(ctx context.Context, v withFunc) (int, error) { return 0, nil }, decorate.Options{Name: "f"}); !errors.Is(err, decorate.ErrUnsupportedArg) {
		t.Fatalf("func field: %v", err)
	}
	if _, err := decorate.Func(e.cache, func(ctx context.Context, v any) (int, error) { return 0, nil }, decorate.Options{Name: "i"}); !errors.Is(err, decorate.ErrUnsupportedArg) {
		t.Fatalf("interface argument: %v", err)
	}
	type node struct {
		V    int
		Next *node
	}
	if _, err := decorate.Func(e.cache, func(ctx context.Context, v node) (int, error) { return 0, nil }, decorate.Options{Name: "r"}); !errors.Is(err, decorate.ErrUnsupportedArg) {
		t.Fatalf("recursive argument: %v", err)
	}
	if _, err := decorate.Func(e.cache, ctxFn, decorate.Options{Name: "m", KeyFunc: func(m map[string]int) string { return "" }}); err != nil {
		t.Fatalf("map argument with KeyFunc: %v", err)
	}
	okFn := func(ctx context.Context, id int) (int, error) { return id, nil }
	for name, o := range map[string]decorate.Options{
		"no name":        {},
		"paren in name":  {Name: "a(b"},
		"wrong KeyFunc":  {Name: "k", KeyFunc: func(s string) string { return s }},
		"ahead too long": {Name: "k", Strategy: tiered.Custom(time.Second).WithRefreshAhead(time.Second)},
		"negative stale": {Name: "k", Strategy: tiered.Custom(time.Second).WithStaleIfError(-1)},
		"bad strategy":   {Name: "k", Strategy: tiered.Strategy{TTL: -1}},
		"nil NotFound":   {Name: "k", NotFound: []error{nil}},
	} {
		if _, err := decorate.Func(e.cache, okFn, o); !errors.Is(err, decorate.ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", name, err)
		}
	}
	if _, err := decorate.Func(nil, okFn, decorate.Options{Name: "k"}); !errors.Is(err, decorate.ErrNilCache) {
		t.Errorf("nil cache: %v", err)
	}
	if _, err := decorate.Func[int, int](e.cache, nil, decorate.Options{Name: "k"}); !errors.Is(err, decorate.ErrNilFunc) {
		t.Errorf("nil func: %v", err)
	}
}

// errMissing is a source's own "not found" sentinel.
var errMissing = errors.New("missing")

func TestNegativeCaching(t *testing.T) {
	n := ns(t)
	e1, e2 := newEnv(t, n), newEnv(t, n)
	var calls atomic.Int64
	src := func(ctx context.Context, id int64) (user, error) {
		calls.Add(1)
		if id < 0 {
			return user{}, fmt.Errorf("query user %d: %w", id, sql.ErrNoRows)
		}
		if id == 0 {
			return user{}, errors.New("database down")
		}
		return user{ID: id}, nil
	}
	o := decorate.Options{Name: "users", Strategy: tiered.ShortTerm.WithNegativeTTL(time.Minute)}
	w1, err := decorate.Func(e1.cache, src, o)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := decorate.Func(e2.cache, src, o)
	if err != nil {
		t.Fatal(err)
	}
	// The first call returns the source's own error.
	_, err = w1.Call(t.Context(), -1)
	if !errors.Is(err, sql.ErrNoRows) || err.Error() != "query user -1: sql: no rows in result set" {
		t.Fatalf("first miss: %v", err)
	}
	// Cached misses answer as sql.ErrNoRows, from L1 and from Redis (another instance).
	for i, w := range []*decorate.Cached[int64, user]{w1, w1, w2} {
		if _, err := w.Call(t.Context(), -1); !errors.Is(err, sql.ErrNoRows) || err.Error() != sql.ErrNoRows.Error() {
			t.Fatalf("cached miss %d: %v, want sql.ErrNoRows", i, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("source calls %d, want 1", calls.Load())
	}
	if s := e1.cache.Stats(); s.NegativeHits < 2 {
		t.Fatalf("negative hits %d", s.NegativeHits)
	}
	// Other errors are never cached.
	for range 3 {
		if _, err := w1.Call(t.Context(), 0); err == nil || err.Error() != "database down" {
			t.Fatalf("error: %v", err)
		}
	}
	if calls.Load() != 4 {
		t.Fatalf("source calls %d, want 4", calls.Load())
	}

	// A custom sentinel comes back as itself; a predicate recognises typed errors.
	var custom atomic.Int64
	wc, err := decorate.Func(e1.cache, func(ctx context.Context, id int) (int, error) {
		custom.Add(1)
		if id == 1 {
			return 0, errMissing
		}
		return 0, &notThere{id}
	}, decorate.Options{
		Name:       "custom",
		Strategy:   tiered.ShortTerm.WithNegativeTTL(time.Minute),
		NotFound:   []error{errMissing},
		IsNotFound: func(err error) bool { var nt *notThere; return errors.As(err, &nt) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wc.Call(t.Context(), 1); err != errMissing {
		t.Fatalf("custom sentinel, first call: %v, want the source's error itself", err)
	}
	if _, err := wc.Call(t.Context(), 1); !errors.Is(err, errMissing) || err.Error() != errMissing.Error() {
		t.Fatalf("custom sentinel, cached: %v", err)
	}
	var nt *notThere
	if _, err := wc.Call(t.Context(), 2); !errors.As(err, &nt) {
		t.Fatalf("typed not-found, first call: %v", err)
	}
	// Cached, the typed error's value is gone (errors.As cannot find it), but the check against
	// the error of the first call and against the list still holds.
	if _, err := wc.Call(t.Context(), 2); !errors.Is(err, errMissing) || !errors.Is(err, &notThere{2}) {
		t.Fatalf("typed not-found, cached: %v", err)
	}
	if custom.Load() != 2 {
		t.Fatalf("custom source calls %d, want 2", custom.Load())
	}

	// Without a NegativeTTL "not found" is returned but not cached.
	var plain atomic.Int64
	wp, err := decorate.Func(e1.cache, func(ctx context.Context, id int) (int, error) {
		plain.Add(1)
		return 0, sql.ErrNoRows
	}, decorate.Options{Name: "plain", Strategy: tiered.ShortTerm})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := wp.Call(t.Context(), 1); err != sql.ErrNoRows {
			t.Fatalf("uncached miss: %v", err)
		}
	}
	if plain.Load() != 2 {
		t.Fatalf("plain source calls %d, want 2", plain.Load())
	}
}

type notThere struct{ id int }

// errDriverNoRows stands for a driver's "no rows" error that wraps sql.ErrNoRows, as pgx.ErrNoRows
// does.
var errDriverNoRows = fmt.Errorf("driver: %w", sql.ErrNoRows)

// TestNegativeCachingSentinels checks that a cached "not found" answers errors.Is for every
// NotFound error, as the source's own error did, in this process and in another.
func TestNegativeCachingSentinels(t *testing.T) {
	n := ns(t)
	e1, e2 := newEnv(t, n), newEnv(t, n)
	errGone := errors.New("gone")
	neg := tiered.ShortTerm.WithNegativeTTL(time.Minute)
	for _, tc := range []struct {
		name     string
		notFound []error
		source   error
	}{
		// The default list: a driver's error that wraps sql.ErrNoRows (pgx.ErrNoRows does).
		{"default list, pgx", nil, pgx.ErrNoRows},
		{"default list, wrapping driver", nil, errDriverNoRows},
		// One sentinel wraps the other, whatever the list's order.
		{"wrapping, driver first", []error{errDriverNoRows, sql.ErrNoRows}, errDriverNoRows},
		{"wrapping, driver second", []error{sql.ErrNoRows, errDriverNoRows}, errDriverNoRows},
		// Two unrelated sentinels: the source returns the second.
		{"distinct", []error{errMissing, errGone}, errGone},
		{"distinct, wrapped by the source", []error{errMissing, errGone}, fmt.Errorf("item 1: %w", errMissing)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			src := func(ctx context.Context, id int) (int, error) { calls.Add(1); return 0, tc.source }
			o := decorate.Options{Name: "sentinels " + tc.name, Strategy: neg, NotFound: tc.notFound}
			w1, err := decorate.Func(e1.cache, src, o)
			if err != nil {
				t.Fatal(err)
			}
			w2, err := decorate.Func(e2.cache, src, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w1.Call(t.Context(), 1); err != tc.source {
				t.Fatalf("first call: %v, want the source's error", err)
			}
			list := tc.notFound
			if list == nil {
				list = []error{sql.ErrNoRows}
			}
			check := func(what string, err error) {
				t.Helper()
				// The check a caller wrote against the first call's error holds.
				if !errors.Is(err, tc.source) {
					t.Fatalf("%s: errors.Is(%v, the source's %v) is false", what, err, tc.source)
				}
				for _, nf := range list {
					if !errors.Is(err, nf) {
						t.Fatalf("%s: errors.Is(%v, %v) is false", what, err, nf)
					}
				}
				if !errors.Is(err, tiered.ErrNotFound) {
					t.Fatalf("%s: errors.Is(%v, tiered.ErrNotFound) is false", what, err)
				}
				if err.Error() != list[0].Error() {
					t.Fatalf("%s: message %q, want %q", what, err.Error(), list[0].Error())
				}
				// An error that is not a "not found" of the wrapper does not match.
				if errors.Is(err, errors.New("other")) || errors.Is(err, context.Canceled) {
					t.Fatalf("%s: matches an unrelated error", what)
				}
			}
			_, err = w1.Call(t.Context(), 1)
			check("cached", err)
			// Another instance, which never saw the source's error, answers the same way.
			_, err = w2.Call(t.Context(), 1)
			check("other instance", err)
			if calls.Load() != 1 {
				t.Fatalf("source calls %d, want 1", calls.Load())
			}
		})
	}
}

func (e *notThere) Error() string { return fmt.Sprintf("no item %d", e.id) }

func TestInvalidateByArgs(t *testing.T) {
	n := ns(t)
	e1, e2 := newEnv(t, n), newEnv(t, n)
	var version atomic.Int64
	src := func(ctx context.Context, id int64) (string, error) {
		return fmt.Sprintf("%d@v%d", id, version.Load()), nil
	}
	w1, err := decorate.Func(e1.cache, src, decorate.Options{Name: "doc"})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := decorate.Func(e2.cache, src, decorate.Options{Name: "doc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 2} {
		if v, _ := w1.Call(t.Context(), id); v != fmt.Sprintf("%d@v0", id) {
			t.Fatalf("first read %d: %q", id, v)
		}
	}
	version.Store(1)
	if err := w1.Invalidate(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	// Redis no longer holds the old entry: another instance loads the new value.
	if v, _ := w2.Call(t.Context(), 1); v != "1@v1" {
		t.Fatalf("other instance after Invalidate(1): %q", v)
	}
	if v, _ := w1.Call(t.Context(), 1); v != "1@v1" {
		t.Fatalf("after Invalidate(1): %q", v)
	}
	if v, _ := w1.Call(t.Context(), 2); v != "2@v0" {
		t.Fatalf("2 was not invalidated but reads %q", v)
	}

	// Func0 and Func2 invalidate the same way.
	var n0, n2 atomic.Int64
	f0, err := decorate.Func0(e1.cache, func(ctx context.Context) (int64, error) { return n0.Add(1), nil }, decorate.Options{Name: "count"})
	if err != nil {
		t.Fatal(err)
	}
	f2, err := decorate.Func2(e1.cache, func(ctx context.Context, a, b int) (int64, error) { return n2.Add(1), nil }, decorate.Options{Name: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if v, _ := f0.Call(t.Context()); v != 1 {
			t.Fatalf("Func0 = %d", v)
		}
		if v, _ := f2.Call(t.Context(), 1, 2); v != 1 {
			t.Fatalf("Func2 = %d", v)
		}
	}
	if err := f0.Invalidate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f2.Invalidate(t.Context(), 1, 2); err != nil {
		t.Fatal(err)
	}
	if v, _ := f0.Call(t.Context()); v != 2 {
		t.Fatalf("Func0 after Invalidate = %d", v)
	}
	if v, _ := f2.Call(t.Context(), 1, 2); v != 2 {
		t.Fatalf("Func2 after Invalidate = %d", v)
	}
}
