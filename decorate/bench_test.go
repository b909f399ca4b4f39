package decorate_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// profile is a value of about 1 KiB.
type profile struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Bio   string   `json:"bio"`
	Tags  []string `json:"tags"`
}

func newProfile(id int64) profile {
	return profile{
		ID:    id,
		Name:  fmt.Sprint("user-", id),
		Email: fmt.Sprintf("user%d@example.com", id),
		Bio:   strings.Repeat("b", 900),
		Tags:  []string{"alpha", "beta", "gamma"},
	}
}

func newL1Cache(b *testing.B) *tiered.Cache {
	c, err := tiered.New(tiered.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkLoadL1Baseline is tiered's L1 hit through the typed API, measured here so that
// BenchmarkFuncHit can be compared with it in the same run.
func BenchmarkLoadL1Baseline(b *testing.B) {
	c := newL1Cache(b)
	ctx := context.Background()
	load := func(context.Context) (profile, error) { return newProfile(42), nil }
	const key = "profile(i42;)"
	if _, err := tiered.Load(ctx, c, key, tiered.ShortTerm, load); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := tiered.Load(ctx, c, key, tiered.ShortTerm, load)
		if err != nil || p.ID != 42 {
			b.Fatal(p.ID, err)
		}
	}
}

// BenchmarkFuncHit is a wrapped call whose value is in L1: key encoding plus the L1 hit.
func BenchmarkFuncHit(b *testing.B) {
	c := newL1Cache(b)
	ctx := context.Background()
	f, err := decorate.Func(c, func(_ context.Context, id int64) (profile, error) { return newProfile(id), nil },
		decorate.Options{Name: "profile", Strategy: tiered.ShortTerm})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Call(ctx, 42); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := f.Call(ctx, 42)
		if err != nil || p.ID != 42 {
			b.Fatal(p.ID, err)
		}
	}
}

// BenchmarkFuncHitStruct is a wrapped call keyed by a struct argument.
func BenchmarkFuncHitStruct(b *testing.B) {
	type query struct {
		Tenant string
		ID     int64
		Active bool
	}
	c := newL1Cache(b)
	ctx := context.Background()
	f, err := decorate.Func(c, func(_ context.Context, q query) (profile, error) { return newProfile(q.ID), nil },
		decorate.Options{Name: "profileQ", Strategy: tiered.ShortTerm})
	if err != nil {
		b.Fatal(err)
	}
	q := query{Tenant: "acme", ID: 42, Active: true}
	if _, err := f.Call(ctx, q); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Call(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// rttCounter counts the commands and pipelines a go-redis client sends: each is one round trip.
type rttCounter struct{ n atomic.Int64 }

func (h *rttCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *rttCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *rttCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkBatch100 asks for 100 IDs of which 90 are in Redis and none in L1: one MGET, one
// source call for the other 10, one pipeline to write them back.
func BenchmarkBatch100(b *testing.B) {
	srv := redistest.Shared(b)
	namespace := fmt.Sprintf("bench:%d:%d:", runID, nsSeq.Add(1)) // fresh for every -count round
	var sourceCalls atomic.Int64
	load := func(_ context.Context, ids []int64) (map[int64]profile, error) {
		sourceCalls.Add(1)
		out := make(map[int64]profile, len(ids))
		for _, id := range ids {
			out[id] = newProfile(id)
		}
		return out, nil
	}
	o := decorate.Options{Name: "profiles", Strategy: tiered.ShortTerm}
	ctx := context.Background()

	// A writer with Redis alone puts the 90 shared IDs there.
	wl2, err := redistier.New(srv.Client(b), redistier.Options{})
	if err != nil {
		b.Fatal(err)
	}
	writer, err := tiered.New(tiered.Options{Tiers: []tiered.Tier{{Backend: wl2}}, Namespace: namespace})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = writer.Close() })
	wb, err := decorate.Batch(writer, load, o)
	if err != nil {
		b.Fatal(err)
	}
	shared := make([]int64, 90)
	for i := range shared {
		shared[i] = int64(i + 1)
	}
	if _, err := wb.Call(ctx, shared); err != nil {
		b.Fatal(err)
	}

	// The reader's L1 takes no promotions, so the 90 stay in Redis only.
	rdb := srv.Client(b)
	rtt := &rttCounter{}
	rdb.AddHook(rtt)
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l1.Close)
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		b.Fatal(err)
	}
	reader, err := tiered.New(tiered.Options{
		Tiers:     []tiered.Tier{{Backend: l1, NoPromote: true}, {Backend: l2}},
		Namespace: namespace,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reader.Close() })
	rb, err := decorate.Batch(reader, load, o)
	if err != nil {
		b.Fatal(err)
	}
	// Warm up the reader's connections: dialing is not part of an operation.
	if _, err := rb.Call(ctx, []int64{-1}); err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, 100)
	copy(ids, shared)
	next := int64(1_000_000)
	sourceCalls.Store(0)
	rtt.n.Store(0)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for j := 90; j < 100; j++ {
			ids[j] = next
			next++
		}
		got, err := rb.Call(ctx, ids)
		if err != nil || len(got) != 100 {
			b.Fatal(len(got), err)
		}
		n++
	}
	b.ReportMetric(float64(sourceCalls.Load())/float64(n), "source-calls/op")
	b.ReportMetric(float64(rtt.n.Load())/float64(n), "redis-rtt/op")
}

// BenchmarkBatch100L1 asks for 100 IDs that are all in L1.
func BenchmarkBatch100L1(b *testing.B) {
	c := newL1Cache(b)
	ctx := context.Background()
	rb, err := decorate.Batch(c, func(_ context.Context, ids []int64) (map[int64]profile, error) {
		out := make(map[int64]profile, len(ids))
		for _, id := range ids {
			out[id] = newProfile(id)
		}
		return out, nil
	}, decorate.Options{Name: "profiles", Strategy: tiered.ShortTerm})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, 100)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	if _, err := rb.Call(ctx, ids); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := rb.Call(ctx, ids); err != nil || len(got) != 100 {
			b.Fatal(len(got), err)
		}
	}
}

// BenchmarkFuncHitVsLoad alternates blocks of wrapped calls and of baseline tiered.Load hits on
// the same cache and reports the ratio of their times, which the noise of a shared machine
// disturbs less than two separate benchmarks. ns/op is that of the wrapped call.
func BenchmarkFuncHitVsLoad(b *testing.B) {
	c := newL1Cache(b)
	ctx := context.Background()
	load := func(context.Context) (profile, error) { return newProfile(42), nil }
	f, err := decorate.Func(c, func(_ context.Context, id int64) (profile, error) { return newProfile(id), nil },
		decorate.Options{Name: "profile", Strategy: tiered.ShortTerm})
	if err != nil {
		b.Fatal(err)
	}
	key := f.Key(42)
	if _, err := f.Call(ctx, 42); err != nil {
		b.Fatal(err)
	}
	const block = 1000
	var wrapped, base time.Duration
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		start := time.Now()
		for range block {
			if _, err := tiered.Load(ctx, c, key, tiered.ShortTerm, load); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range block {
			if _, err := f.Call(ctx, 42); err != nil {
				b.Fatal(err)
			}
		}
		wrapped += time.Since(mid)
		base += mid.Sub(start)
		n++
	}
	b.ReportMetric(float64(wrapped)/float64(n*block), "ns/call")
	b.ReportMetric(float64(base)/float64(n*block), "baseline-ns/call")
	b.ReportMetric(float64(wrapped)/float64(base), "x-baseline")
}
