// Package tiertest is the acceptance suite every storage tier of strata passes: the in-process
// otter tier, Redis (single node and Cluster), the Pebble disk tier and Memcached. It checks each
// backend directly (get, set, delete, TTLs, batches, capabilities, concurrency, timeouts) and
// through a tiered.Cache (envelope round trip, remaining TTL on promotion, corrupt entries, the
// capability errors the cache reports).
//
// The suite never builds or parses the cache's entry envelope: valid entries are written by a
// tiered.Cache, corrupt ones are arbitrary bytes or a valid entry cut short or extended.
package tiertest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
)

// Harness describes the backend under test.
type Harness struct {
	// New returns a backend for one subtest. The suite calls it once per subtest and confines
	// itself to keys under a namespace of its own, so backends on a shared server need no
	// clearing; New registers with t.Cleanup whatever must be released.
	New func(t *testing.T) tiered.Backend
	// Stall makes the byte backend's calls block until release is called: Redis and Memcached
	// pause their server with SIGSTOP, the disk tier holds its writes. Required for byte
	// backends; value backends never block.
	Stall func(t *testing.T) (release func())
	// StallsReads says whether Stall holds reads too. The disk tier's reads wait only for the
	// device, so its Stall holds writes alone.
	StallsReads bool
	// TTLResolution is the granularity of the backend's own expiry (Memcached counts whole
	// seconds). Zero means a millisecond.
	TTLResolution time.Duration
	// Timeout is the tier Timeout, and the deadline of direct calls, that the stall checks use.
	// Zero means 100 ms. A backend bounded by its client's own timeout rather than by its context
	// (memcachedtier with TrustClientTimeout) needs one no shorter than the client's.
	Timeout time.Duration
	// Caps lists the optional interfaces the backend implements; the suite checks the list is
	// exact, so that a backend cannot lose (or gain) a capability unnoticed.
	Caps Caps
}

// Caps are the optional capabilities of a byte backend (see the tiered package).
type Caps struct {
	BatchGet, BatchSet, PatternDelete, Clear, TagIndex bool
}

// Run runs the suite against the backend h describes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("tiertest: Harness.New is nil")
	}
	if h.TTLResolution == 0 {
		h.TTLResolution = time.Millisecond
	}
	if h.Timeout == 0 {
		h.Timeout = 100 * time.Millisecond
	}
	probe := h.New(t)
	switch probe.(type) {
	case tiered.ByteBackend:
		if h.Stall == nil {
			t.Fatal("tiertest: a byte backend needs Harness.Stall")
		}
		runByte(t, h)
	case tiered.ValueBackend:
		runValue(t, h)
	default:
		t.Fatalf("tiertest: %T is neither a ByteBackend nor a ValueBackend", probe)
	}
}

// relaxed is the tier Timeout of the checks that are not about timeouts: far beyond what a call
// takes, even on a loaded machine under the race detector, so that a slow call is not a dropped
// write or a miss there.
const relaxed = 5 * time.Second

var seq atomic.Int64

// namespace returns a prefix no other subtest of this process uses.
func namespace(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("tt%d-%d-%s:", time.Now().UnixNano()%1e6, seq.Add(1), name[max(0, len(name)-40):])
}

// newCache builds a cache over tiers, closed when t ends.
func newCache(t *testing.T, ns string, o tiered.Options, tiers ...tiered.Tier) *tiered.Cache {
	t.Helper()
	o.Namespace = ns
	o.Tiers = tiers
	c, err := tiered.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Value is what the suite caches through a tiered.Cache: it names its key, its writer and its
// sequence, and carries a digest of them, so that a torn or misplaced value shows.
type Value struct {
	Key    string
	Writer int
	Seq    int
	Text   string
	Nested struct {
		List []int
		Map  map[string]float64
	}
	Digest string
}

func newValue(key string, writer, seq int) Value {
	v := Value{Key: key, Writer: writer, Seq: seq, Text: "hé, ✓ " + key}
	v.Nested.List = []int{writer, seq, -1}
	v.Nested.Map = map[string]float64{"w": float64(writer), "s": float64(seq) / 3}
	v.Digest = digest(v)
	return v
}

func digest(v Value) string { return fmt.Sprintf("%s|%d|%d|%d", v.Key, v.Writer, v.Seq, len(v.Text)) }

// check reports whether v is a value newValue made for key.
func (v Value) check(key string) error {
	if v.Key != key || v.Digest != digest(v) || len(v.Nested.List) != 3 || v.Nested.List[0] != v.Writer || v.Nested.List[1] != v.Seq {
		return fmt.Errorf("value %+v read for %q is not one written for it", v, key)
	}
	return nil
}

// eventually polls cond every few milliseconds until it holds or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// within runs f on its own goroutine and reports whether it returned within limit. When it did
// not (the call is stuck in the backend), the test fails and f is left to finish once the
// backend is released; f must not touch t.
func within(t *testing.T, limit time.Duration, what string, f func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		t.Errorf("%s did not return within %v while the backend was stalled", what, limit)
		return false
	}
}
