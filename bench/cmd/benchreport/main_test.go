package main

import (
	"math"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Some CPU
BenchmarkL1Hit-2   	 1000	 20 ns/op	 20 strata-ns/op	 10 strata-cpu-ns/op	 0 strata-allocs/op	 0 strata-loads/op	 40 jetcache-ns/op	 30 jetcache-cpu-ns/op	 41 jetcache-allocs/op	 0 jetcache-loads/op
BenchmarkL1Hit-2   	 1000	 10 ns/op	 10 strata-ns/op	 10 strata-cpu-ns/op	 0 strata-allocs/op	 0 strata-loads/op	 40 jetcache-ns/op	 20 jetcache-cpu-ns/op	 41 jetcache-allocs/op	 0 jetcache-loads/op
BenchmarkL1Hit-2   	 1000	 40 ns/op	 40 strata-ns/op	 10 strata-cpu-ns/op	 0 strata-allocs/op	 0 strata-loads/op	 40 jetcache-ns/op	 10 jetcache-cpu-ns/op	 41 jetcache-allocs/op	 0 jetcache-loads/op
PASS
`

// TestRatiosPerRound checks that ratios are taken within each round before the median: the
// rounds' jetcache ÷ strata are 2, 4 and 1, so the median is 2 with a spread of 1–4 (the ratio
// of the medians, 40 ÷ 20, would hide the spread).
func TestRatiosPerRound(t *testing.T) {
	runs, header, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || len(header) != 2 {
		t.Fatalf("parsed %d runs and header %q", len(runs), header)
	}
	rep := summarize(runs)
	if len(rep.rows) != 1 {
		t.Fatalf("%d rows", len(rep.rows))
	}
	got := rep.rows[0].wall["jetcache"]
	if got.median != 2 || got.lo != 1 || got.hi != 4 || got.n != 3 {
		t.Errorf("wall ratio %+v, want median 2, spread 1–4 over 3 rounds", got)
	}
	cpu := rep.rows[0].cpu["jetcache"]
	if cpu.median != 2 || cpu.lo != 1 || cpu.hi != 3 {
		t.Errorf("CPU ratio %+v, want median 2, spread 1–3", cpu)
	}
	md := markdown(rep, header)
	if !strings.Contains(md, "| L1 hit | 2.00 (1.00–4.00) |") {
		t.Errorf("table lacks the L1 row:\n%s", md)
	}
	svg := chart(rep, header)
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "jetcache-go") {
		t.Errorf("chart lacks its bars:\n%s", svg)
	}
}

func TestStatEvenCount(t *testing.T) {
	s := statOf([]float64{4, 1, 3, 2})
	if math.Abs(s.median-2.5) > 1e-9 || s.lo != 1 || s.hi != 4 {
		t.Errorf("%+v", s)
	}
}
