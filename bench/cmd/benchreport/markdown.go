package main

import (
	"fmt"
	"strings"
)

// ratio formats a median ratio with its spread: "1.43 (1.38–1.51)".
func ratio(s stat) string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 {
		return fmt.Sprintf("%.2f", s.median)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.median, s.lo, s.hi)
}

// duration formats nanoseconds with a unit.
func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func markdown(rep report, header []string) string {
	var b strings.Builder
	cols := rep.columns()
	rounds := 0
	for _, r := range rep.rows {
		rounds = max(rounds, r.rounds)
	}
	fmt.Fprintf(&b, "Time per operation of each library ÷ strata's, measured in the same round; median of %d rounds (lowest–highest). Above 1: strata is faster.\n\n", rounds)
	table := func(metric string, pick func(row) (map[string]stat, bool)) {
		fmt.Fprintf(&b, "| %s |", metric)
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", c.title)
		}
		b.WriteString("\n|---|")
		b.WriteString(strings.Repeat("---|", len(cols)))
		b.WriteString("\n")
		for _, r := range rep.rows {
			m, ok := pick(r)
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "| %s |", r.w.label)
			for _, c := range cols {
				fmt.Fprintf(&b, " %s |", ratio(m[c.id]))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	table("wall time", func(r row) (map[string]stat, bool) { return r.wall, true })
	table("CPU time", func(r row) (map[string]stat, bool) { return r.cpu, r.w.cpu })

	fmt.Fprintf(&b, "Median time per operation (wall / process CPU), allocations per operation")
	b.WriteString(", and source calls per operation where the workload loads:\n\n")
	b.WriteString("| workload | library | wall | CPU | allocs | loads |\n|---|---|---|---|---|---|\n")
	for _, r := range rep.rows {
		for _, id := range r.ids {
			loads := "–"
			if l, ok := r.loads[id]; ok && r.hasLoads {
				loads = fmt.Sprintf("%.3g", l.median)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f | %s |\n", r.w.label, title(id),
				duration(r.abs[id].median), duration(r.absCPU[id].median), r.allocs[id].median, loads)
		}
	}
	if len(header) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(header, ", "))
	}
	return b.String()
}
