package decorate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// source is a batch source that records what it was asked for. IDs divisible by 7 do not exist.
type source struct {
	mu     sync.Mutex
	asked  [][]int64
	perID  map[int64]int
	gate   chan struct{} // when set, calls wait for it to close
	called chan []int64  // when set, receives each call's IDs
	err    error
}

func (s *source) load(ctx context.Context, ids []int64) (map[int64]user, error) {
	s.mu.Lock()
	s.asked = append(s.asked, slices.Clone(ids))
	if s.perID == nil {
		s.perID = map[int64]int{}
	}
	for _, id := range ids {
		s.perID[id]++
	}
	gate, called, err := s.gate, s.called, s.err
	s.mu.Unlock()
	if called != nil {
		called <- slices.Clone(ids)
	}
	if gate != nil {
		<-gate
	}
	if err != nil {
		return nil, err
	}
	out := make(map[int64]user, len(ids))
	for _, id := range ids {
		if id%7 != 0 {
			out[id] = user{ID: id, Name: fmt.Sprint("u", id)}
		}
	}
	return out, nil
}

func (s *source) calls() [][]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]int64, len(s.asked))
	for i, a := range s.asked {
		out[i] = slices.Clone(a)
		slices.Sort(out[i])
	}
	return out
}

func ids(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func checkUsers(t *testing.T, got map[int64]user, want []int64) {
	t.Helper()
	for _, id := range want {
		u, ok := got[id]
		if id%7 == 0 {
			if ok {
				t.Fatalf("missing ID %d returned as %+v", id, u)
			}
			continue
		}
		if !ok || u.Name != fmt.Sprint("u", id) {
			t.Fatalf("ID %d: %+v, %v", id, u, ok)
		}
	}
	if len(got) > len(want) {
		t.Fatalf("%d results for %d IDs", len(got), len(want))
	}
}

var batchOpts = decorate.Options{Name: "users.batch", Strategy: tiered.ShortTerm.WithNegativeTTL(time.Minute)}

func TestBatchLoadsOnlyMissing(t *testing.T) {
	n := ns(t)
	e1, e2 := newEnv(t, n), newEnv(t, n)
	src := &source{}
	b1, err := decorate.Batch(e1.cache, src.load, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b1.Call(t.Context(), ids(1, 10))
	if err != nil {
		t.Fatal(err)
	}
	checkUsers(t, got, ids(1, 10))
	got, err = b1.Call(t.Context(), append(ids(5, 15), 5, 11)) // duplicates are looked up once
	if err != nil {
		t.Fatal(err)
	}
	checkUsers(t, got, ids(5, 15))
	if c := src.calls(); len(c) != 2 || !slices.Equal(c[0], ids(1, 10)) || !slices.Equal(c[1], ids(11, 15)) {
		t.Fatalf("source calls %v; want [1..10] then [11..15]", c)
	}
	// Another instance finds everything in Redis — values and cached misses alike.
	b2, err := decorate.Batch(e2.cache, src.load, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	got, err = b2.Call(t.Context(), ids(1, 15))
	if err != nil {
		t.Fatal(err)
	}
	checkUsers(t, got, ids(1, 15))
	if c := src.calls(); len(c) != 2 {
		t.Fatalf("source called again: %v", c)
	}
	s := e2.cache.Stats()
	if s.Tiers[1].Hits != 15 || s.NegativeHits != 2 {
		t.Fatalf("other instance stats: L2 hits %d, negative %d", s.Tiers[1].Hits, s.NegativeHits)
	}
	// Single-ID wrappers and batches of the same name read the same entries.
	one, err := decorate.Func(e2.cache, func(ctx context.Context, id int64) (user, error) {
		return user{}, errors.New("not called")
	}, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := one.Call(t.Context(), 3); err != nil || u.Name != "u3" {
		t.Fatalf("single read of a batch entry: %+v, %v", u, err)
	}

	// A failing source fails the call and caches nothing.
	src.mu.Lock()
	src.err = errors.New("database down")
	src.mu.Unlock()
	if _, err := b1.Call(t.Context(), ids(20, 22)); err == nil || err.Error() != "database down" {
		t.Fatalf("failing source: %v", err)
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	got, err = b1.Call(t.Context(), ids(20, 22))
	if err != nil {
		t.Fatal(err)
	}
	checkUsers(t, got, ids(20, 22))
	// Invalidation by ID.
	if err := b1.Invalidate(t.Context(), 21); err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Call(t.Context(), ids(20, 22)); err != nil {
		t.Fatal(err)
	}
	if c := src.calls(); !slices.Equal(c[len(c)-1], []int64{21}) {
		t.Fatalf("after Invalidate(21) the source got %v", c[len(c)-1])
	}
}

func TestOverlappingBatches(t *testing.T) {
	e := newEnv(t, ns(t))
	src := &source{gate: make(chan struct{}), called: make(chan []int64, 10)}
	b, err := decorate.Batch(e.cache, src.load, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		got map[int64]user
		err error
	}
	first, second := make(chan answer, 1), make(chan answer, 1)
	go func() {
		got, err := b.Call(t.Context(), ids(1, 10))
		first <- answer{got, err}
	}()
	if got := <-src.called; len(got) != 10 {
		t.Fatalf("first batch asked for %v", got)
	}
	go func() {
		got, err := b.Call(t.Context(), ids(5, 15))
		second <- answer{got, err}
	}()
	got := <-src.called
	slices.Sort(got)
	if !slices.Equal(got, ids(11, 15)) {
		t.Fatalf("second batch asked for %v; want only [11..15]", got)
	}
	select {
	case a := <-second:
		t.Fatalf("second batch returned before the first one's IDs were loaded: %v", a)
	case <-time.After(50 * time.Millisecond):
	}
	close(src.gate)
	a1, a2 := <-first, <-second
	if a1.err != nil || a2.err != nil {
		t.Fatal(a1.err, a2.err)
	}
	checkUsers(t, a1.got, ids(1, 10))
	checkUsers(t, a2.got, ids(5, 15))
	// Two source calls; the six IDs the second batch shares with the first were waited for.
	if s := e.cache.Stats(); s.Loads != 2 || s.Coalesced != 6 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConcurrentBatchesLoadEachIDOnce(t *testing.T) {
	e := newEnv(t, ns(t))
	src := &source{}
	b, err := decorate.Batch(e.cache, func(ctx context.Context, ids []int64) (map[int64]user, error) {
		time.Sleep(time.Millisecond)
		return src.load(ctx, ids)
	}, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 40 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var want []int64
			for range 30 {
				want = append(want, 1+r.Int64N(200))
			}
			got, err := b.Call(t.Context(), want)
			if err != nil {
				errs <- err
				return
			}
			for _, id := range want {
				if _, ok := got[id]; ok == (id%7 == 0) {
					errs <- fmt.Errorf("ID %d: present %v", id, ok)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for id, n := range src.perID {
		if n != 1 {
			t.Fatalf("ID %d loaded %d times", id, n)
		}
	}
}

func TestBatchOptions(t *testing.T) {
	e := newEnv(t, ns(t))
	src := &source{}
	if _, err := decorate.Batch(e.cache, src.load, decorate.Options{Name: "b", Strategy: tiered.Strategy{TTL: -1}}); !errors.Is(err, decorate.ErrInvalidOptions) {
		t.Fatalf("invalid strategy on a batch: %v", err)
	}
	b, err := decorate.Batch(e.cache, src.load, decorate.Options{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Call(t.Context(), nil); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v, %v", got, err)
	}
	// Without a NegativeTTL, missing IDs are asked for again.
	for range 2 {
		if _, err := b.Call(t.Context(), []int64{7}); err != nil {
			t.Fatal(err)
		}
	}
	if c := src.calls(); len(c) != 2 {
		t.Fatalf("source calls %v", c)
	}
}

// plainRedis is the Redis tier without its batch capabilities, as a third-party byte backend
// would be.
type plainRedis struct{ b *redistier.Backend }

func (p plainRedis) Name() string { return "plain-redis" }
func (p plainRedis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	return p.b.Get(ctx, key)
}
func (p plainRedis) Set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return p.b.Set(ctx, key, data, ttl)
}
func (p plainRedis) Delete(ctx context.Context, keys ...string) error {
	return p.b.Delete(ctx, keys...)
}

func TestBatchWithoutBatchBackend(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := ns(t)
	mk := func() *tiered.Cache {
		c, err := tiered.New(tiered.Options{Tiers: []tiered.Tier{{Backend: plainRedis{l2}}}, Namespace: n + ":"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	src := &source{}
	b1, err := decorate.Batch(mk(), src.load, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b1.Call(t.Context(), ids(1, 20)); err != nil {
		t.Fatal(err)
	} else {
		checkUsers(t, got, ids(1, 20))
	}
	b2, err := decorate.Batch(mk(), src.load, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b2.Call(t.Context(), ids(1, 25)); err != nil {
		t.Fatal(err)
	} else {
		checkUsers(t, got, ids(1, 25))
	}
	if c := src.calls(); len(c) != 2 || !slices.Equal(c[1], ids(21, 25)) {
		t.Fatalf("source calls %v", c)
	}
}

func TestBatchSourcePanics(t *testing.T) {
	e := newEnv(t, ns(t))
	var boom atomic.Bool
	boom.Store(true)
	src := &source{}
	b, err := decorate.Batch(e.cache, func(ctx context.Context, ids []int64) (map[int64]user, error) {
		if boom.Load() {
			panic("source bug")
		}
		return src.load(ctx, ids)
	}, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	var pe *tiered.PanicError
	if _, err := b.Call(t.Context(), ids(1, 3)); !errors.As(err, &pe) || !errors.Is(err, tiered.ErrLoaderPanic) {
		t.Fatalf("panicking source: %v", err)
	}
	boom.Store(false)
	got, err := b.Call(t.Context(), ids(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	checkUsers(t, got, ids(1, 3))
}
