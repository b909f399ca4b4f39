// Command benchreport turns the output of the bench module's interleaved benchmarks into
// ratios: for every round (one run of a benchmark function) it divides each library's time per
// operation by strata's from the same round, then prints the median and the spread (lowest and
// highest) of those ratios over the rounds, as Markdown tables, and draws them as an SVG chart.
//
// A ratio above 1 means strata was faster.
//
//	go test -run '^$' -bench . -count 5 | go run ./cmd/benchreport -svg chart.svg -md results.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

func main() {
	svgPath := flag.String("svg", "", "write the chart to this file")
	mdPath := flag.String("md", "", "write the tables to this file as well as to standard output")
	flag.Parse()
	var in io.Reader = os.Stdin
	if flag.NArg() > 0 {
		var readers []io.Reader
		for _, p := range flag.Args() {
			f, err := os.Open(p)
			if err != nil {
				fatal(err)
			}
			defer f.Close()
			readers = append(readers, f)
		}
		in = io.MultiReader(readers...)
	}
	runs, header, err := parse(in)
	if err != nil {
		fatal(err)
	}
	if len(runs) == 0 {
		fatal(fmt.Errorf("no benchmark results in the input"))
	}
	rep := summarize(runs)
	var md string
	if len(rep.rows) > 0 {
		md = markdown(rep, header)
	}
	if ct := codecTable(runs); ct != "" {
		if md != "" {
			md += "\n"
		}
		md += ct
	}
	fmt.Print(md)
	if *mdPath != "" {
		if err := os.WriteFile(*mdPath, []byte(md), 0o644); err != nil {
			fatal(err)
		}
	}
	if *svgPath != "" && len(rep.rows) > 0 {
		if err := os.WriteFile(*svgPath, []byte(chart(rep, header)), 0o644); err != nil {
			fatal(err)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}

// run is one line of benchmark output: one round of one benchmark.
type run struct {
	bench   string             // without the Benchmark prefix and the -GOMAXPROCS suffix
	metrics map[string]float64 // unit → value
}

var benchLine = regexp.MustCompile(`^Benchmark([^\s]+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse reads benchmark lines, and the cpu: and goos: lines of the header.
func parse(r io.Reader) ([]run, []string, error) {
	var (
		runs   []run
		header []string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "cpu:") || strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:") {
			if !contains(header, strings.TrimSpace(line)) {
				header = append(header, strings.TrimSpace(line))
			}
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		if len(f)%2 != 0 {
			return nil, nil, fmt.Errorf("odd value/unit pairs in %q", line)
		}
		rn := run{bench: m[1], metrics: map[string]float64{}}
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%q: %w", line, err)
			}
			rn.metrics[f[i+1]] = v
		}
		runs = append(runs, rn)
	}
	return runs, header, sc.Err()
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
