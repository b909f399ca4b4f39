package decorate_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	ottertier "github.com/stratacache/strata/tiered/otter"
	redistier "github.com/stratacache/strata/tiered/redis"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// env is one cache instance (an otter L1 over the shared Redis) standing for one process.
type env struct {
	cache *tiered.Cache
	rdb   *redis.Client
}

// newEnv builds a cache over the shared test Redis under namespace ns (one per test, so tests do
// not see each other's keys). Instances built with the same ns share their L2.
func newEnv(tb testing.TB, ns string, mod ...func(*tiered.Options)) *env {
	tb.Helper()
	rdb := redistest.Shared(tb).Client(tb)
	return newEnvOn(tb, rdb, ns, mod...)
}

func newEnvOn(tb testing.TB, rdb redis.UniversalClient, ns string, mod ...func(*tiered.Options)) *env {
	tb.Helper()
	l1, err := ottertier.New(ottertier.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l1.Close)
	l2, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	o := tiered.Options{
		Tiers:     []tiered.Tier{{Backend: l1}, {Backend: l2, Timeout: 500 * time.Millisecond}},
		Namespace: ns + ":",
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := tiered.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	e := &env{cache: c}
	if cl, ok := rdb.(*redis.Client); ok {
		e.rdb = cl
	}
	return e
}

var runID = time.Now().UnixNano()

var nsSeq atomic.Int64

// ns returns a namespace unique to the test and to this run of it (-count, a reused Redis).
func ns(tb testing.TB) string {
	return fmt.Sprintf("dt:%d:%d:%s", runID, nsSeq.Add(1), strings.ReplaceAll(tb.Name(), "/", "."))
}
