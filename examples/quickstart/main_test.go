package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stratacache/strata/examples/internal/connect"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestRunEmbedded runs the README's first command: the embedded in-process cache alone.
func TestRunEmbedded(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, ""); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	checkFirstStats(t, out.String())
	for _, re := range []string{
		`tiers: L1 otter \(set REDIS_URL`,
		`first read +miss`,
		`next read +L1 hit`,
		`1000 concurrent callers on a cold key -> 1 source call\(s\)`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output lacks %s", re)
		}
	}
	if strings.Contains(out.String(), "2nd instance") {
		t.Error("a second instance without Redis")
	}
}

// TestRunRedis runs it with a Redis L2: each stats block is the one of the instance the lines
// above it talk about — the first instance never read from Redis, the second read once, from
// Redis, and promoted the entry into its L1.
func TestRunRedis(t *testing.T) {
	srv := redistest.Start(t)
	var out bytes.Buffer
	if err := run(t.Context(), &out, srv.URL()); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	text := out.String()
	i := strings.Index(text, "2nd instance")
	if i < 0 {
		t.Fatalf("no second instance in\n%s", text)
	}
	first, second := text[:i], text[i:]
	checkFirstStats(t, first)
	for _, re := range []string{
		`tiers: L1 otter, L2 redis`,
		`L2 redis +hits=0 `,
	} {
		if !regexp.MustCompile(re).MatchString(first) {
			t.Errorf("first instance's part lacks %s", re)
		}
	}
	for _, re := range []string{
		`2nd instance L2 hit`,
		`its stats +requests=1 hits=1 misses=0 coalesced=0 loads=0 `,
		`L1 otter +hits=0 promotions=1 `,
		`L2 redis +hits=1 promotions=0 errors=0 breaker=closed`,
	} {
		if !regexp.MustCompile(re).MatchString(second) {
			t.Errorf("second instance's part lacks %s", re)
		}
	}
}

// checkFirstStats checks the first instance's stats: 1 + 10,000 reads of user 42 and 1,000 of
// user 7, two loads; the stampede's callers that came after its load are hits, the others
// coalesced; every hit is an L1 hit.
func checkFirstStats(t *testing.T, text string) {
	t.Helper()
	m := regexp.MustCompile(`stats +requests=(\d+) hits=(\d+) misses=(\d+) coalesced=(\d+) loads=(\d+) .*\n +L1 otter +hits=(\d+) `).FindStringSubmatch(text)
	if m == nil {
		t.Errorf("no stats for the first instance in\n%s", text)
		return
	}
	n := make([]int, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	requests, hits, misses, coalesced, loads, l1hits := n[1], n[2], n[3], n[4], n[5], n[6]
	if requests != 11001 || misses != 2 || loads != 2 || hits+coalesced != 10999 || hits < 10000 || l1hits != hits {
		t.Errorf("first instance's stats: %s", m[0])
	}
}

// TestRunRedisUnreachable names Redis, the address and the fix.
func TestRunRedisUnreachable(t *testing.T) {
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(t.Context(), &out, "redis://"+addr+"/0")
	if err == nil {
		t.Fatalf("ran without its Redis:\n%s", out.String())
	}
	for _, want := range []string{"Redis at " + addr + " (REDIS_URL) does not answer", "fix: start Redis there", "leave REDIS_URL empty to run on the in-process cache alone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("printed before failing:\n%s", out.String())
	}
}
