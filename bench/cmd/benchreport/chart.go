package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// colors of the libraries' bars.
var colors = map[string]string{
	"otter":              "#7f7f7f",
	"goredis-cache":      "#d62728",
	"jetcache":           "#ff7f0e",
	"jetcache-freecache": "#ffbb78",
	"gocache":            "#2ca02c",
	"gocache-local":      "#98df8a",
	"sturdyc":            "#9467bd",
	"goredis":            "#8c564b",
	"strata-get":         "#1f77b4",
	"strata-bg":          "#aec7e8",
}

// Chart geometry: a label column, then the plot, on a log scale of ratios.
const (
	chartWidth = 980
	labelRight = 300 // right edge of the bar labels
	plotLeft   = 315
	plotRight  = 900
	barHeight  = 13
	barGap     = 4
	groupGap   = 16
	minRatio   = 0.1
	maxRatio   = 100.0
)

func xOf(r float64) float64 {
	r = math.Min(math.Max(r, minRatio), maxRatio)
	f := (math.Log10(r) - math.Log10(minRatio)) / (math.Log10(maxRatio) - math.Log10(minRatio))
	return plotLeft + f*(plotRight-plotLeft)
}

// group is one block of bars: a workload's wall-time ratios, or its CPU-time ratios.
type group struct {
	label string
	stats map[string]stat
	ids   []string
}

func chart(rep report, header []string) string {
	var groups []group
	rounds := 0
	for _, r := range rep.rows {
		rounds = max(rounds, r.rounds)
		ids := r.ids[1:] // without strata itself
		groups = append(groups, group{r.w.label, r.wall, ids})
		if r.w.cpu {
			groups = append(groups, group{r.w.label + " (CPU)", r.cpu, ids})
		}
	}
	top := 92.0
	height := top + 40
	for _, g := range groups {
		height += 20 + float64(len(g.ids))*(barHeight+barGap) + groupGap
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="20" y="28" font-size="17" font-weight="bold">strata against other Go caches: their time ÷ strata's, same round</text>`+"\n")
	fmt.Fprintf(&b, `<text x="20" y="48" fill="#444">Log scale. Bar: median of %d rounds; whisker: lowest–highest. Right of 1: strata is faster; left: the other is faster.</text>`+"\n", rounds)
	if len(header) > 0 {
		fmt.Fprintf(&b, `<text x="20" y="66" fill="#777" font-size="11">%s</text>`+"\n", html.EscapeString(strings.Join(header, ", ")))
	}
	bottom := height - 40
	// Grid and axis.
	for _, t := range []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100} {
		x := xOf(t)
		stroke, w := "#e3e3e3", 1.0
		if t == 1 {
			stroke, w = "#333", 1.5
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="%s" stroke-width="%.1f"/>`+"\n", x, top-8, x, bottom, stroke, w)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", x, top-12, trimFloat(t))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", x, bottom+16, trimFloat(t))
	}
	y := top
	for _, g := range groups {
		fmt.Fprintf(&b, `<text x="20" y="%.0f" font-weight="bold">%s</text>`+"\n", y+12, html.EscapeString(g.label))
		y += 20
		for _, id := range g.ids {
			s := g.stats[id]
			fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end" fill="#333">%s</text>`+"\n", labelRight, y+barHeight-3, html.EscapeString(title(id)))
			if s.n > 0 {
				x0, x1 := xOf(1), xOf(s.median)
				left, w := math.Min(x0, x1), math.Abs(x1-x0)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, math.Max(w, 1), barHeight, colorOf(id))
				if s.n > 1 {
					lo, hi, mid := xOf(s.lo), xOf(s.hi), y+barHeight/2
					fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222"/>`+"\n", lo, mid, hi, mid)
					fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#222"/>`+"\n", lo, y+2, lo, y+barHeight-2)
					fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#222"/>`+"\n", hi, y+2, hi, y+barHeight-2)
				}
				lx, anchor := math.Max(x1, xOf(s.hi))+5, "start"
				if s.median < 1 {
					lx, anchor = math.Min(x1, xOf(s.lo))-5, "end"
					if lx < plotLeft+30 { // no room on the left: write it right of the 1 line
						lx, anchor = x0+5, "start"
					}
				}
				fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="%s" fill="#111">%.2f</text>`+"\n", lx, y+barHeight-3, anchor, s.median)
			}
			y += barHeight + barGap
		}
		y += groupGap
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func colorOf(id string) string {
	if c, ok := colors[id]; ok {
		return c
	}
	return "#bbbbbb"
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
