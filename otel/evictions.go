package stratotel

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2/stats"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// EvictionRecorder returns an otter stats recorder that counts the evictions of an in-process tier
// as strata.cache.evictions{strata.tier.name=tier}. Pass it as ottertier.Options.StatsRecorder,
// with the name the tier's backend reports ("otter" unless Options.Name says otherwise):
//
//	l1, err := ottertier.New(ottertier.Options{MaxEntries: 100_000, StatsRecorder: obs.EvictionRecorder("otter")})
//
// Hits and misses are not recorded here: the cache counts them itself (strata.cache.requests). otter
// still calls a recorder on every lookup, which adds a few nanoseconds to each L1 read; leave the
// recorder out where that matters more than the eviction count.
func (o *Observer) EvictionRecorder(tier string) stats.Recorder {
	return &evictionRecorder{
		counter: o.m.evictions,
		opts:    []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttrTierName.String(tier)))},
	}
}

type evictionRecorder struct {
	counter metric.Int64Counter
	opts    []metric.AddOption
}

func (r *evictionRecorder) RecordHits(int)   {}
func (r *evictionRecorder) RecordMisses(int) {}

// RecordEviction runs while otter holds its locks: one counter update, nothing else.
func (r *evictionRecorder) RecordEviction(uint32) {
	r.counter.Add(context.Background(), 1, r.opts...)
}

func (r *evictionRecorder) RecordLoadSuccess(time.Duration) {}
func (r *evictionRecorder) RecordLoadFailure(time.Duration) {}
