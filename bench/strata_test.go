package bench

// strata's side of the benchmarks: the only file that uses strata's API.

import (
	"context"
	"time"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// strataStrategy is the TTL policy of every strata entry: one hour.
var strataStrategy = tiered.MediumTerm

type strataStack struct {
	c   *tiered.Cache
	l1  *ottertier.Backend
	src source
}

// newStrata builds strata by its documented defaults: an otter L1 bounded to l1Entries, the
// Redis tier, the default codec and breaker.
func newStrata(s setup) (*strataStack, error) {
	st := &strataStack{src: s.src}
	var tiers []tiered.Tier
	if s.l1 {
		l1, err := ottertier.New(ottertier.Options{MaxEntries: l1Entries})
		if err != nil {
			return nil, err
		}
		st.l1 = l1
		tiers = append(tiers, tiered.Tier{Backend: l1})
	}
	if s.rdb != nil {
		r, err := redistier.New(s.rdb, redistier.Options{})
		if err != nil {
			return nil, err
		}
		// The one departure from the defaults: the peers wait for Redis as long as go-redis's
		// read timeout (3 s), while strata's default tier timeout (250 ms) would turn a stall
		// of the shared machine into a miss and a load, which these workloads must not have.
		tiers = append(tiers, tiered.Tier{Backend: r, Timeout: 3 * time.Second})
	}
	c, err := tiered.New(tiered.Options{Tiers: tiers, Namespace: s.prefix})
	if err != nil {
		return nil, err
	}
	st.c = c
	return st, nil
}

func (s *strataStack) load(ctx context.Context, key string) (Record, error) {
	return tiered.Load(ctx, s.c, key, strataStrategy, func(ctx context.Context) (Record, error) { return s.src(ctx, key) })
}

// get is a read without a loader.
func (s *strataStack) get(ctx context.Context, key string) (Record, bool, error) {
	return tiered.Get[Record](ctx, s.c, key)
}

func (s *strataStack) set(ctx context.Context, key string, v Record) error {
	return s.c.Set(ctx, key, v, strataStrategy)
}

func (s *strataStack) close() {
	_ = s.c.Close()
	if s.l1 != nil {
		s.l1.Close()
	}
}

// strataBatch is decorate.Batch over a strataStack, with a writer that puts records in Redis
// only (as another instance would).
type strataBatch struct {
	b      *decorate.Batched[int64, Record]
	writer *strataStack
}

func newStrataBatch(s, writer *strataStack, fn func(context.Context, []int64) (map[int64]Record, error)) (*strataBatch, error) {
	b, err := decorate.Batch(s.c, fn, decorate.Options{Name: "rec", Strategy: strataStrategy})
	if err != nil {
		return nil, err
	}
	return &strataBatch{b: b, writer: writer}, nil
}

func (s *strataBatch) call(ctx context.Context, ids []int64) (map[int64]Record, error) {
	return s.b.Call(ctx, ids)
}

// store writes the records of ids to Redis only, in one pipeline.
func (s *strataBatch) store(ctx context.Context, ids []int64) error {
	vals := make([]tiered.BatchValue, len(ids))
	for i, id := range ids {
		vals[i] = tiered.BatchValue{Key: s.b.Key(id), Value: recordOf(id)}
	}
	return s.writer.c.SetMany(ctx, vals, strataStrategy)
}
