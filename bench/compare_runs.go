package main

// -compare with several runs per side: OLD1.json,OLD2.json,... against
// NEW1.json,NEW2.json,... Rows on the project's machine move by 12% at the
// median between two runs of one build, some by 2x (docs/performance.md),
// so one run against one run says little; several runs per build, their
// median and their spread, say whether a row really moved. A file written
// with -count N holds N runs of every row (its runs), so one such file per
// side is compared the same way.

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// runSet is one side of a comparison: several runs of one build in one
// condition.
type runSet struct {
	paths []string
	runs  []*report
}

// readRunSet reads the comma-separated list of -json files in arg.
func readRunSet(arg string) (*runSet, error) {
	s := &runSet{}
	for _, p := range strings.Split(arg, ",") {
		if p == "" {
			continue
		}
		r, err := readReport(p)
		if err != nil {
			return nil, err
		}
		if len(s.runs) > 0 {
			first := s.runs[0]
			if r.Mode != first.Mode || r.Stress != first.Stress || r.Procs != first.Procs {
				return nil, fmt.Errorf("-compare: %s (%s mode, %s) and %s (%s mode, %s) are runs of different modes or conditions: one side lists runs of one mode and condition", s.paths[0], first.Mode, first.condition(), p, r.Mode, r.condition())
			}
		}
		s.paths = append(s.paths, p)
		s.runs = append(s.runs, r)
	}
	if len(s.runs) == 0 {
		return nil, fmt.Errorf("-compare: %q names no file", arg)
	}
	return s, nil
}

// spread is one row's headline figure over the runs of one side.
type spread struct {
	n             int
	med, min, max float64
	cpuMed        float64
}

// spreads computes every row's spread over the runs of s, skipping runs
// where the row has no figure (a note, a failure).
func (s *runSet) spreads() (map[string]*spread, []*result) {
	figs := map[string][]float64{}
	cpus := map[string][]float64{}
	var order []*result
	for _, r := range s.runs {
		for _, x := range r.Results {
			k := rowKey(x)
			if _, ok := figs[k]; !ok {
				figs[k] = nil
				order = append(order, x)
			}
			if x.Note != "" {
				continue
			}
			if len(x.Runs) > 0 {
				// A -count file: each of its runs counts as a run.
				for _, v := range x.Runs {
					if v > 0 {
						figs[k] = append(figs[k], v)
					}
				}
				if c := cpuFigure(x); c > 0 {
					cpus[k] = append(cpus[k], c)
				}
			} else if v, _ := figure(x); v > 0 {
				figs[k] = append(figs[k], v)
				if c := cpuFigure(x); c > 0 {
					cpus[k] = append(cpus[k], c)
				}
			}
		}
	}
	out := map[string]*spread{}
	for k, v := range figs {
		if len(v) == 0 {
			continue
		}
		out[k] = &spread{n: len(v), med: median(v), min: slices.Min(v), max: slices.Max(v), cpuMed: median(cpus[k])}
	}
	return out, order
}

// nruns is how many runs the side holds: a -count N file holds N.
func (s *runSet) nruns() int {
	n := 0
	for _, r := range s.runs {
		n += max(r.Count, 1)
	}
	return n
}

// hasRuns reports whether the -json file at path was written with -count
// above 1; an unreadable file reports false and fails later, in the
// comparison, with its reason.
func hasRuns(path string) bool {
	r, err := readReport(path)
	return err == nil && r.Count > 1
}

// median of v (0 for none); v is sorted in place.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// compareRunSets prints each row's median and min-max spread on both
// sides and marks the aioring rows whose spreads do not overlap: every
// run of one build beat every run of the other. That is the rule for
// "moved beyond its run-to-run spread".
func compareRunSets(oldArg, newArg string, w io.Writer) error {
	old, err := readRunSet(oldArg)
	if err != nil {
		return err
	}
	cur, err := readRunSet(newArg)
	if err != nil {
		return err
	}
	o0, c0 := old.runs[0], cur.runs[0]
	if o0.Mode != c0.Mode {
		return fmt.Errorf("-compare: OLD are %s runs and NEW %s runs: compare runs of one mode", o0.Mode, c0.Mode)
	}
	if o0.Stress != c0.Stress || o0.Procs != c0.Procs {
		return fmt.Errorf("-compare: OLD and NEW differ in condition (%s; %s): compare runs of one condition", o0.condition(), c0.condition())
	}
	olds, orders := old.spreads()
	cs, corder := cur.spreads()
	rows := corder
	seen := map[string]bool{}
	for _, x := range corder {
		seen[rowKey(x)] = true
	}
	for _, x := range orders {
		if !seen[rowKey(x)] {
			rows = append(rows, x)
		}
	}
	common := 0
	for k := range cs {
		if olds[k] != nil {
			common++
		}
	}
	if common == 0 {
		return fmt.Errorf("-compare: OLD and NEW have no case in common")
	}
	fmt.Fprintf(w, "aioring benchmark comparison, %s mode, %s: median [min-max] of %d OLD and %d NEW runs\n", c0.Mode, c0.condition(), old.nruns(), cur.nruns())
	fmt.Fprintf(w, "OLD %s\nNEW %s\n\n", strings.Join(old.paths, ", "), strings.Join(cur.paths, ", "))
	const row = "%-11s %-10s %-16s %26s %26s %8s %8s  %s\n"
	fmt.Fprintf(w, row, "SCENARIO", "CASE", "IMPL", "OLD", "NEW", "CHANGE", "CPU CHG", "aioring: spreads apart?")
	fmt.Fprintln(w, strings.Repeat("-", 130))
	moved, prev := 0, ""
	for _, x := range rows {
		k := rowKey(x)
		o, c := olds[k], cs[k]
		if prev != "" && x.Scenario != prev {
			fmt.Fprintln(w)
		}
		prev = x.Scenario
		_, unit := figure(x)
		cell := func(s *spread) string {
			if s == nil {
				return "-"
			}
			if unit == "MB/s" {
				return fmt.Sprintf("%s [%s-%s]", num(s.med, 1), num(s.min, 1), num(s.max, 1))
			}
			return fmt.Sprintf("%s [%s-%s]", si(s.med), si(s.min), si(s.max))
		}
		change, cpuChange, mark := "-", "-", ""
		if o != nil && c != nil {
			change = pct(c.med/o.med - 1)
			if o.cpuMed > 0 && c.cpuMed > 0 {
				cpuChange = pct(c.cpuMed/o.cpuMed - 1)
			}
			if isAioring(x.Impl) {
				switch {
				case c.min > o.max:
					mark, moved = "MOVED up: every NEW run above every OLD run", moved+1
				case c.max < o.min:
					mark, moved = "MOVED down: every NEW run below every OLD run", moved+1
				default:
					mark = "within the spread"
				}
			}
		}
		fmt.Fprintf(w, row, x.Scenario, x.Case, x.Impl, cell(o), cell(c), change, cpuChange, mark)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "* Figures are ops/s (MB/s for copy); CHANGE is NEW's median over OLD's; CPU CHG the same for CPU per operation (the server's own where there is a server).")
	fmt.Fprintln(w, "* Rule: an aioring row MOVED when the two spreads do not overlap, every run of one side beating every run of the other; otherwise it is within the spread, whatever its CHANGE. A -json file written with -count N counts as its N runs.")
	fmt.Fprintf(w, "* aioring rows that moved: %d.\n", moved)
	return nil
}
