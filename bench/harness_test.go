package bench

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// contender is one library's side of an interleaved benchmark.
type contender struct {
	// id names the library in the metrics ("strata", "jetcache", ...): the unit of its metrics is
	// id-ns/op, id-cpu-ns/op, id-B/op, id-allocs/op (and id-loads/op with loads).
	id string
	// op runs the i-th operation.
	op func(i int) error
	// prep, when set, runs before op i, untimed; each op is then timed on its own.
	prep func(i int) error
	// loads, when set, counts the source calls, reported per operation.
	loads *atomic.Int64
}

// totals accumulates what a contender's operations cost.
type totals struct {
	wall, cpu      time.Duration
	bytes, objects uint64
	ops            int
}

// interleave runs b.N operations of every contender in alternating blocks of at most block
// operations, rotating which contender goes first, so that a slow patch of a shared machine falls
// on every contender alike. It reports each contender's wall time, process CPU time (every
// thread: the caller, background goroutines, the GC), and heap allocations per operation as
// custom metrics, and the first contender's wall time as ns/op.
func interleave(b *testing.B, block int, cs []contender) {
	b.Helper()
	if block < 1 {
		block = 1
	}
	tot := make([]totals, len(cs))
	var m0, m1 runtime.MemStats
	b.ResetTimer()
	for start, round := 0, 0; start < b.N; start, round = start+block, round+1 {
		n := min(block, b.N-start)
		for k := range cs {
			j := (k + round) % len(cs)
			c, t := &cs[j], &tot[j]
			if c.prep == nil {
				runtime.ReadMemStats(&m0)
				cpu0, t0 := cpuTime(), time.Now()
				for i := start; i < start+n; i++ {
					if err := c.op(i); err != nil {
						b.Fatalf("%s: op %d: %v", c.id, i, err)
					}
				}
				t.wall += time.Since(t0)
				t.cpu += cpuTime() - cpu0
				runtime.ReadMemStats(&m1)
				t.bytes += m1.TotalAlloc - m0.TotalAlloc
				t.objects += m1.Mallocs - m0.Mallocs
			} else {
				for i := start; i < start+n; i++ {
					if err := c.prep(i); err != nil {
						b.Fatalf("%s: prep %d: %v", c.id, i, err)
					}
					runtime.ReadMemStats(&m0)
					cpu0, t0 := cpuTime(), time.Now()
					if err := c.op(i); err != nil {
						b.Fatalf("%s: op %d: %v", c.id, i, err)
					}
					t.wall += time.Since(t0)
					t.cpu += cpuTime() - cpu0
					runtime.ReadMemStats(&m1)
					t.bytes += m1.TotalAlloc - m0.TotalAlloc
					t.objects += m1.Mallocs - m0.Mallocs
				}
			}
			t.ops += n
		}
	}
	b.StopTimer()
	for j, c := range cs {
		t := tot[j]
		n := float64(t.ops)
		b.ReportMetric(float64(t.wall.Nanoseconds())/n, c.id+"-ns/op")
		b.ReportMetric(float64(t.cpu.Nanoseconds())/n, c.id+"-cpu-ns/op")
		b.ReportMetric(float64(t.bytes)/n, c.id+"-B/op")
		b.ReportMetric(float64(t.objects)/n, c.id+"-allocs/op")
		if c.loads != nil {
			b.ReportMetric(float64(c.loads.Load())/n, c.id+"-loads/op")
		}
	}
	b.ReportMetric(float64(tot[0].wall.Nanoseconds())/float64(tot[0].ops), "ns/op")
}

// cpuTime is the CPU time of the whole process so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
