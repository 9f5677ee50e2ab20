package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// noiseFloor is the least change of an aioring row that -compare marks as
// moved. One build's tcp-echo, run three times in quick mode on the
// project's 2-core machine (docs/performance.md), changed by at most 21.5%
// in three row pairs of four between two of its runs, and by up to 116% in
// the rest; two -full runs, by at most 20.1% in three of four and 26.5% in
// all. 20% leaves most of that noise unmarked without hiding a change of a
// quarter. A pair of runs can be noisier still; then the baselines, the
// same code in both runs, show it, and the larger figure counts.
const noiseFloor = 0.20

// readReport reads a -json file and checks that it is one.
func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-compare: %v", err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("-compare: %s is not a bench -json file (%v)", path, err)
	}
	if r.Mode == "" || len(r.Results) == 0 {
		return nil, fmt.Errorf("-compare: %s is not a bench -json file: it has no mode or no results", path)
	}
	for _, x := range r.Results {
		if x.Scenario == "" || x.Impl == "" {
			return nil, fmt.Errorf("-compare: %s is not a bench -json file: a result has no scenario or implementation", path)
		}
	}
	return &r, nil
}

// rowKey names one row across runs.
func rowKey(x *result) string { return x.Scenario + "\x00" + x.Case + "\x00" + x.Impl }

// figure is the row's headline figure (MB/s for copy, ops/s otherwise) and
// its unit.
func figure(x *result) (float64, string) {
	if x.Scenario == scenCopy {
		return x.MBPerS, "MB/s"
	}
	return x.OpsPerS, "ops/s"
}

// cpuFigure is the row's CPU per operation: the server's where there is
// one, per GiB for copy.
func cpuFigure(x *result) float64 {
	switch {
	case x.ServerCPUSPerMop > 0:
		return x.ServerCPUSPerMop
	case x.CPUSPerGiB > 0:
		return x.CPUSPerGiB
	}
	return x.CPUSPerMop
}

// compareFiles prints, per scenario, case and implementation, both runs'
// figures and the change, and marks the aioring rows that moved more than
// the noise. Bad or mismatched files are usage errors.
func compareFiles(oldPath, newPath string, w io.Writer) error {
	old, err := readReport(oldPath)
	if err != nil {
		return err
	}
	cur, err := readReport(newPath)
	if err != nil {
		return err
	}
	if old.Mode != cur.Mode {
		return fmt.Errorf("-compare: %s is a %s run and %s a %s run: compare two runs of one mode", oldPath, old.Mode, newPath, cur.Mode)
	}
	if old.Stress != cur.Stress || old.Procs != cur.Procs {
		return fmt.Errorf("-compare: the runs differ in condition (%s: %s; %s: %s): compare two runs of one condition", oldPath, old.condition(), newPath, cur.condition())
	}
	byKey := map[string]*result{}
	for _, x := range old.Results {
		byKey[rowKey(x)] = x
	}
	type pair struct {
		old, cur *result
		change   float64 // relative change of the headline figure; NaN when unknown
	}
	var pairs []pair
	seen := map[string]bool{}
	common := 0
	// The baselines are the same code in both runs: how far they moved is
	// this pair of runs' own noise, per scenario.
	noise := map[string]float64{}
	for _, x := range cur.Results {
		k := rowKey(x)
		seen[k] = true
		p := pair{old: byKey[k], cur: x, change: math.NaN()}
		if p.old != nil {
			common++
			a, _ := figure(p.old)
			b, _ := figure(x)
			if a > 0 && b > 0 && p.old.Note == "" && x.Note == "" {
				p.change = b/a - 1
				if !isAioring(x.Impl) {
					noise[x.Scenario] = math.Max(noise[x.Scenario], math.Abs(p.change))
				}
			}
		}
		pairs = append(pairs, p)
	}
	for _, x := range old.Results {
		if !seen[rowKey(x)] {
			pairs = append(pairs, pair{old: x, change: math.NaN()})
		}
	}
	if common == 0 {
		return fmt.Errorf("-compare: %s and %s have no case in common", oldPath, newPath)
	}

	fmt.Fprintf(w, "aioring benchmark comparison, %s mode, %s\n", cur.Mode, cur.condition())
	fmt.Fprintf(w, "OLD %s: started %s, Linux %s, %s, %d CPUs\n", oldPath, old.Started.Format("2006-01-02 15:04 MST"), old.Kernel, old.GoVersion, old.CPUs)
	fmt.Fprintf(w, "NEW %s: started %s, Linux %s, %s, %d CPUs\n\n", newPath, cur.Started.Format("2006-01-02 15:04 MST"), cur.Kernel, cur.GoVersion, cur.CPUs)
	const row = "%-11s %-10s %-14s %10s %10s %8s %9s %9s %8s  %s\n"
	fmt.Fprintf(w, row, "SCENARIO", "CASE", "IMPL", "OLD", "NEW", "CHANGE", "OLD CPU", "NEW CPU", "CHANGE", "MOVED (aioring beyond the noise)")
	fmt.Fprintln(w, strings.Repeat("-", 118))
	moved := 0
	prev := ""
	for _, p := range pairs {
		x := p.cur
		if x == nil {
			x = p.old
		}
		if prev != "" && x.Scenario != prev {
			fmt.Fprintln(w)
		}
		prev = x.Scenario
		oldFig, newFig, oldCPU, newCPU := "-", "-", "-", "-"
		_, unit := figure(x)
		if p.old != nil {
			oldFig, oldCPU = cmpCell(p.old, unit), num(cpuFigure(p.old), 2)
		}
		if p.cur != nil {
			newFig, newCPU = cmpCell(p.cur, unit), num(cpuFigure(p.cur), 2)
		}
		cpuChange := "-"
		if p.old != nil && p.cur != nil && cpuFigure(p.old) > 0 && cpuFigure(p.cur) > 0 {
			cpuChange = pct(cpuFigure(p.cur)/cpuFigure(p.old) - 1)
		}
		mark := ""
		switch {
		case p.old == nil:
			mark = "only in NEW"
		case p.cur == nil:
			mark = "only in OLD"
		case isAioring(x.Impl) && !math.IsNaN(p.change):
			limit := math.Max(noiseFloor, noise[x.Scenario])
			if math.Abs(p.change) > limit {
				mark = fmt.Sprintf("MOVED (noise %.0f%%)", 100*limit)
				moved++
			} else {
				mark = fmt.Sprintf("within noise (%.0f%%)", 100*limit)
			}
		}
		change := "-"
		if !math.IsNaN(p.change) {
			change = pct(p.change)
		}
		fmt.Fprintf(w, row, x.Scenario, x.Case, x.Impl, oldFig, newFig, change, oldCPU, newCPU, cpuChange, mark)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "* OLD and NEW are ops/s (MB/s for copy); CPU is CPU seconds per million operations, the server process's own in tcp-echo and http (per GiB for copy).")
	fmt.Fprintf(w, "* An aioring row is MOVED when its figure changed by more than the noise: the larger of %.0f%% (one build run twice, docs/performance.md) and the largest change of a baseline row of that scenario in these two runs, the baselines being the same code in both.\n", 100*noiseFloor)
	fmt.Fprintf(w, "* aioring rows that moved beyond the noise: %d.\n", moved)
	return nil
}

// cmpCell is a row's headline figure for -compare, or why it has none.
func cmpCell(x *result, unit string) string {
	if x.Note != "" {
		if strings.HasPrefix(x.Note, "FAILED") {
			return "FAILED"
		}
		return "n/a"
	}
	v, _ := figure(x)
	if unit == "MB/s" {
		return num(v, 1)
	}
	return si(v)
}

// pct formats a relative change as a signed percentage.
func pct(v float64) string { return fmt.Sprintf("%+.1f%%", 100*v) }
