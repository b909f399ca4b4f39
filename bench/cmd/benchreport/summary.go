package main

import (
	"slices"
	"strings"
)

// workload is a benchmark of the bench module, in the order of the tables.
type workload struct {
	bench, label string
	cpu          bool // also report CPU-time ratios (where wall time is mostly a network round trip)
}

var workloads = []workload{
	{"L1Hit", "L1 hit", false},
	{"L2Hit", "L2 hit", true},
	{"L2HitRequestContext", "L2 hit, request context", true},
	{"Stampede", "stampede: 1,000 callers, 10 ms load", false},
	{"Zipf", "Zipf mix, L1 + Redis", false},
	{"Batch", "batch of 100 (90 in Redis, 10 new)", false},
}

// library is a contender id of the benchmarks, with its column title.
type library struct{ id, title string }

// libraries are the columns, strata's own variants last.
var libraries = []library{
	{"otter", "raw otter v2.4.0"},
	{"goredis-cache", "go-redis/cache v9.0.0"},
	{"jetcache", "jetcache-go v1.2.6"},
	{"jetcache-freecache", "jetcache-go v1.2.6, FreeCache L1"},
	{"gocache", "eko/gocache v4 chain"},
	{"gocache-local", "eko/gocache v4 ristretto only"},
	{"sturdyc", "sturdyc v1.1.5"},
	{"goredis", "raw go-redis GET, no decoding"},
	{"strata-get", "strata tiered.Get"},
	{"strata-bg", "strata, Background context"},
}

// stat is the median and spread of a quantity over the rounds.
type stat struct {
	median, lo, hi float64
	n              int
}

func statOf(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{median: m, lo: s[0], hi: s[len(s)-1], n: len(s)}
}

// row is one workload's results.
type row struct {
	w        workload
	rounds   int
	wall     map[string]stat // library id → ratio of its time to strata's, same round
	cpu      map[string]stat // the same with CPU time
	abs      map[string]stat // library id (strata included) → ns/op
	absCPU   map[string]stat // library id (strata included) → CPU ns/op
	loads    map[string]stat // library id (strata included) → source calls per operation
	allocs   map[string]stat // library id (strata included) → allocations per operation
	ids      []string        // the libraries present, strata first
	hasLoads bool
}

type report struct{ rows []row }

func summarize(runs []run) report {
	var rep report
	for _, w := range workloads {
		var rs []run
		for _, r := range runs {
			if r.bench == w.bench {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		rw := row{w: w, rounds: len(rs), wall: map[string]stat{}, cpu: map[string]stat{}, abs: map[string]stat{},
			absCPU: map[string]stat{}, loads: map[string]stat{}, allocs: map[string]stat{}}
		ids := []string{"strata"}
		for _, l := range libraries {
			if _, ok := rs[0].metrics[l.id+"-ns/op"]; ok {
				ids = append(ids, l.id)
			}
		}
		rw.ids = ids
		for _, id := range ids {
			var wall, cpu, abs, absCPU, loads, allocs []float64
			for _, r := range rs {
				s, okS := r.metrics["strata-ns/op"]
				v, okV := r.metrics[id+"-ns/op"]
				if !okS || !okV || s == 0 {
					continue
				}
				abs = append(abs, v)
				wall = append(wall, v/s)
				if sc, vc := r.metrics["strata-cpu-ns/op"], r.metrics[id+"-cpu-ns/op"]; sc > 0 {
					cpu = append(cpu, vc/sc)
					absCPU = append(absCPU, vc)
				}
				if l, ok := r.metrics[id+"-loads/op"]; ok {
					loads = append(loads, l)
					rw.hasLoads = true
				}
				allocs = append(allocs, r.metrics[id+"-allocs/op"])
			}
			rw.abs[id], rw.absCPU[id], rw.allocs[id] = statOf(abs), statOf(absCPU), statOf(allocs)
			if len(loads) > 0 {
				rw.loads[id] = statOf(loads)
			}
			if id != "strata" {
				rw.wall[id], rw.cpu[id] = statOf(wall), statOf(cpu)
			}
		}
		rep.rows = append(rep.rows, rw)
	}
	return rep
}

// columns returns the libraries present in any row, in the order of libraries.
func (rep report) columns() []library {
	var out []library
	for _, l := range libraries {
		for _, r := range rep.rows {
			if _, ok := r.wall[l.id]; ok {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func title(id string) string {
	if id == "strata" {
		return "strata"
	}
	for _, l := range libraries {
		if l.id == id {
			return l.title
		}
	}
	return strings.TrimSpace(id)
}
