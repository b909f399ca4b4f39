package ottertier

import (
	"sync/atomic"
	"time"
)

// denseGap is the interval below which two maintenance requests count as dense.
const denseGap = 5 * time.Microsecond

// maintenance decides where otter's buffer maintenance runs. otter asks for it once its read or
// write buffer fills (every 16 reads of a stripe). Starting a goroutine for it costs more than the
// drain itself when a thread has to be woken, which is the case whenever reads are not dense; when
// they are, the goroutine lets otter's lossy read buffer shed the reads that arrive meanwhile,
// which is cheaper than recording them. So maintenance runs on the calling goroutine unless the
// previous request came less than gap ago.
//
// Inline maintenance holds otter's eviction lock on the caller's goroutine. The backend registers
// no deletion handler, so no code of the user's runs under it but a StatsRecorder, which must not
// call the cache.
type maintenance struct {
	gap  time.Duration
	base time.Time // monotonic origin of last
	last atomic.Int64
}

func newMaintenance() *maintenance {
	return &maintenance{gap: denseGap, base: time.Now()}
}

// run is otter's Executor. Every task it is handed runs, inline or on a goroutine of its own.
func (m *maintenance) run(task func()) {
	now := int64(time.Since(m.base))
	if now-m.last.Swap(now) < int64(m.gap) {
		go task()
		return
	}
	task()
}
