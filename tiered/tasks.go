package tiered

import (
	"sync"
	"sync/atomic"
	"time"
)

// tasks tracks goroutines that may outlive the call that started them (detached loads, refreshes,
// adapters' background work), so that Close can wait for them. Once closed it starts nothing more,
// which keeps every WaitGroup.Add ahead of the final Wait.
type tasks struct {
	mu      sync.RWMutex
	closed  bool
	wg      sync.WaitGroup
	started atomic.Int64 // goroutines started, for tests
}

// goFn runs fn on a new goroutine and reports true, or reports false when the cache is closing.
func (t *tasks) goFn(fn func()) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	t.started.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// close stops new goroutines from starting and waits up to limit for the running ones; it
// reports whether they all ended.
func (t *tasks) close(limit time.Duration) bool {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
