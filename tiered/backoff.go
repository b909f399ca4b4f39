package tiered

import (
	"sync"
	"time"
)

// backoffs delays the next background refresh or stale-if-error load of a key whose last one
// failed: RefreshBackoff after the first failure, doubling with each consecutive one up to 64
// times. Meanwhile reads are answered with the entry the cache holds (stale-if-error) or the one
// due for refresh, without calling the source.
type backoffs struct {
	base time.Duration
	mu   sync.Mutex
	m    map[string]backoff
}

type backoff struct {
	failures int
	until    int64 // Unix ns
}

const (
	// maxBackoffKeys bounds the failure records; expired ones are pruned beyond it, and when
	// none has expired the oldest half is dropped.
	maxBackoffKeys  = 10_000
	maxBackoffShift = 6 // 64 × base at most
)

// active reports whether key's last source call failed less than its backoff ago.
func (b *backoffs) active(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) == 0 {
		return false
	}
	r, ok := b.m[key]
	return ok && time.Now().UnixNano() < r.until
}

// fail records a failed source call of key.
func (b *backoffs) fail(key string) {
	now := time.Now().UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[string]backoff)
	}
	r, ok := b.m[key]
	if !ok && len(b.m) >= maxBackoffKeys {
		b.prune(now)
	}
	r.failures++
	r.until = now + int64(b.base)<<min(r.failures-1, maxBackoffShift)
	b.m[key] = r
}

// clear records a successful source call of key.
func (b *backoffs) clear(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) > 0 {
		delete(b.m, key)
	}
}

func (b *backoffs) prune(now int64) {
	for k, r := range b.m {
		if r.until <= now {
			delete(b.m, k)
		}
	}
	if len(b.m) < maxBackoffKeys {
		return
	}
	n := 0
	for k := range b.m { // map order is random: an arbitrary half
		delete(b.m, k)
		if n++; n >= maxBackoffKeys/2 {
			break
		}
	}
}
