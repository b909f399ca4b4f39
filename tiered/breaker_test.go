package tiered

import (
	"testing"
	"time"
)

func newBreaker(failures int, cooldown time.Duration) *breaker {
	b := &breaker{}
	b.init(BreakerOptions{Failures: failures, Cooldown: cooldown})
	return b
}

// serveCooldown makes the open breaker's cooldown over, as if it had opened long ago.
func (b *breaker) serveCooldown() { b.openedAt.Store(time.Now().UnixNano() - b.cooldown - 1) }

func mustAllow(t *testing.T, b *breaker) ticket {
	t.Helper()
	tk, ok := b.allow()
	if !ok {
		t.Fatalf("call refused in state %v", b.current())
	}
	return tk
}

func TestBreakerOpensAndCloses(t *testing.T) {
	b := newBreaker(3, time.Hour)
	for range 2 {
		if b.failure(mustAllow(t, b)) {
			t.Fatal("opened before the threshold")
		}
	}
	b.success(mustAllow(t, b)) // resets the count
	for i := range 3 {
		if opened := b.failure(mustAllow(t, b)); opened != (i == 2) {
			t.Fatalf("failure %d: opened=%v", i+1, opened)
		}
	}
	if _, ok := b.allow(); ok || b.current() != BreakerOpen {
		t.Fatalf("open breaker let a call through (state %v)", b.current())
	}
	b.serveCooldown()
	probe := mustAllow(t, b)
	if b.current() != BreakerHalfOpen {
		t.Fatalf("state %v after the cooldown, want half-open", b.current())
	}
	if _, ok := b.allow(); ok {
		t.Fatal("a second call went through while the probe runs")
	}
	if !b.success(probe) || b.current() != BreakerClosed {
		t.Fatalf("probe success: state %v", b.current())
	}
}

// A success reported for a call admitted before the breaker opened does not close it.
func TestBreakerLateSuccessChangesNothing(t *testing.T) {
	b := newBreaker(2, time.Hour)
	slow := mustAllow(t, b) // a call that will answer late
	b.failure(mustAllow(t, b))
	if !b.failure(mustAllow(t, b)) {
		t.Fatal("breaker did not open")
	}
	if b.success(slow) || b.current() != BreakerOpen {
		t.Fatalf("a late success closed the breaker (state %v)", b.current())
	}
	if _, ok := b.allow(); ok {
		t.Fatal("open breaker let a call through after a late success")
	}
}

// A failure reported for a call admitted before the probe does not open the breaker again while
// the probe runs, nor after the probe closed it.
func TestBreakerLateFailureChangesNothing(t *testing.T) {
	b := newBreaker(1, time.Hour)
	slow := mustAllow(t, b) // admitted while closed, answers late
	other := mustAllow(t, b)
	if !b.failure(other) {
		t.Fatal("breaker did not open")
	}
	b.serveCooldown()
	probe := mustAllow(t, b)
	if b.failure(slow) || b.current() != BreakerHalfOpen {
		t.Fatalf("a late failure changed the half-open breaker (state %v)", b.current())
	}
	if !b.success(probe) || b.current() != BreakerClosed {
		t.Fatalf("the probe's success did not close the breaker (state %v)", b.current())
	}
	// Nor does a failure older than the last close count toward the next opening.
	if b.failure(slow) || b.current() != BreakerClosed {
		t.Fatalf("a failure from an earlier closed epoch opened the breaker (state %v)", b.current())
	}
}

// A probe whose caller gave up hands the probe on instead of leaving the tier skipped for good.
func TestBreakerAbandonedProbe(t *testing.T) {
	b := newBreaker(1, time.Hour)
	b.failure(mustAllow(t, b))
	b.serveCooldown()
	probe := mustAllow(t, b)
	b.abandon(probe)
	if b.current() != BreakerOpen {
		t.Fatalf("state %v after an abandoned probe, want open", b.current())
	}
	next := mustAllow(t, b) // the cooldown counts as served
	if !b.success(next) || b.current() != BreakerClosed {
		t.Fatalf("the next probe did not close the breaker (state %v)", b.current())
	}
	// An abandoned call that was not the probe changes nothing.
	b.abandon(probe)
	if b.current() != BreakerClosed {
		t.Fatalf("a stale abandon changed the state to %v", b.current())
	}
}
