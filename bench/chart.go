package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chartGroup is one row of the chart: aioring against one baseline in one
// case, with the ratio (aioring / baseline) under each condition charted.
type chartGroup struct {
	label  string
	ratios []float64 // per condition; 0 where the row was not measured
	target float64   // the ratio to reach, 0 for none
}

// chartData gathers, from runs of the suite under several conditions (one
// report each), one group per baseline row of any report, in the order
// the rows first appear, with one ratio per report. A row with no ratio in
// any report (fio not installed, a failure) has nothing to draw and is
// left out; the tables say why.
func chartData(reps []*report) (conds []string, groups []*chartGroup) {
	byKey := map[string]*chartGroup{}
	seen := map[string]int{}
	var all []*chartGroup
	for i, r := range reps {
		c := r.chartCondition()
		// Two runs of one condition get told apart by their order.
		seen[c]++
		if seen[c] > 1 {
			c += " #" + strconv.Itoa(seen[c])
		}
		conds = append(conds, c)
		for _, x := range r.Results {
			if isAioring(x.Impl) {
				continue // aioring's own rows are what the bars compare
			}
			key := rowKey(x)
			g := byKey[key]
			if g == nil {
				g = &chartGroup{label: x.Scenario + "\n" + x.Case + "\nvs " + x.Impl, ratios: make([]float64, len(reps))}
				if t := targetFor(x.Scenario, x.Case, x.Impl); t != nil {
					g.target = t.chart
				}
				byKey[key] = g
				all = append(all, g)
			}
			if x.Note == "" {
				g.ratios[i] = x.Ratio
			}
		}
	}
	for _, g := range all {
		for _, v := range g.ratios {
			if v > 0 {
				groups = append(groups, g)
				break
			}
		}
	}
	return conds, groups
}

// chartCondition names a run's condition in the chart's legend.
func (r *report) chartCondition() string {
	var c []string
	if r.Stress {
		c = append(c, "-stress")
	}
	if r.Procs > 0 {
		c = append(c, fmt.Sprintf("-procs %d", r.Procs))
	}
	if len(c) == 0 {
		return "quiet"
	}
	return strings.Join(c, " ")
}

// caseKey is the number a case is keyed by for its target (targetFor):
// the depth of "qd32", the connections of "c64 64B"; 0 for other cases.
func caseKey(c string) int {
	f := strings.Fields(c)
	if len(f) == 0 {
		return 0
	}
	s := strings.TrimPrefix(strings.TrimPrefix(f[0], "qd"), "c")
	n, err := strconv.Atoi(s)
	if err != nil || s == f[0] {
		return 0
	}
	return n
}

// caseSize is the message size a case names ("64B" of "c64 64B"), or "".
func caseSize(c string) string {
	if f := strings.Fields(c); len(f) > 1 {
		return f[1]
	}
	return ""
}

// conditionColors are the bars' colors, one per condition in the order
// given (quiet, -stress, -procs 1 as the README's chart is drawn).
var conditionColors = []color.RGBA{
	{R: 0x33, G: 0x66, B: 0xcc, A: 0xff},
	{R: 0xee, G: 0x88, B: 0x22, A: 0xff},
	{R: 0x33, G: 0x99, B: 0x55, A: 0xff},
	{R: 0x88, G: 0x55, B: 0xaa, A: 0xff},
	{R: 0x77, G: 0x77, B: 0x77, A: 0xff},
}

// writeChart draws a grouped bar chart of the ratios (aioring / baseline)
// of every baseline row: one group per row, one bar per condition (one
// report per condition), a dashed line at 1.0 and a red mark at the
// row's target. The reports must be of one mode.
func writeChart(w io.Writer, path string, reps []*report) error {
	if len(reps) == 0 {
		return fmt.Errorf("nothing to chart")
	}
	for _, r := range reps[1:] {
		if r.Mode != reps[0].Mode {
			return usagef("-chart: the runs are of different modes (%s and %s): chart runs of one mode", reps[0].Mode, r.Mode)
		}
	}
	conds, groups := chartData(reps)
	if len(groups) == 0 {
		return fmt.Errorf("nothing to chart: no baseline rows")
	}
	n, nc := len(groups), len(conds)
	width := vg.Length(math.Max(10, math.Max(0.8, 0.25+0.18*float64(nc))*float64(n))) * vg.Inch
	height := 7 * vg.Inch
	slot := (width - vg.Inch) / vg.Length(n) // one group's share of the x axis
	barW := 0.8 * slot / vg.Length(nc)
	barX := 0.8 / float64(nc) // a bar's width in x units (one group is 1)

	p := plot.New()
	p.Y.Label.Text = "aioring / baseline (ops/s, or MB/s for copy)"
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min = 0
	// Ratios span orders of magnitude; a bar taller than the cap is cut
	// there, and every bar carries its true value as a label.
	const yCap = 3.0
	runs := ""
	if reps[0].Count > 1 {
		runs = fmt.Sprintf(", medians of %d runs", reps[0].Count)
	}
	p.Title.Text = fmt.Sprintf("aioring over each baseline, %s mode%s, one bar per condition (higher is better; red: target; bars cut at %.0fx)", reps[0].Mode, runs, yCap)
	labels := make([]string, n)
	var valXY plotter.XYs
	var valText []string
	ymax := 1.6
	bars := make([]plotter.Values, nc)
	for c := range bars {
		bars[c] = make(plotter.Values, n)
	}
	for i, g := range groups {
		labels[i] = g.label
		for c, v := range g.ratios {
			bars[c][i] = math.Min(v, yCap)
			ymax = math.Max(ymax, bars[c][i])
			if v > 0 {
				x := float64(i) + (float64(c)-float64(nc-1)/2)*barX
				valXY = append(valXY, plotter.XY{X: x, Y: math.Min(v, yCap)})
				valText = append(valText, fmt.Sprintf("%.2f", v))
			}
		}
	}
	p.Y.Max = ymax * 1.45 // room for the labels and the legend
	p.NominalX(labels...)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	var ticks []plot.Tick
	for y := 0.0; y <= p.Y.Max; y += 0.5 {
		ticks = append(ticks, plot.Tick{Value: y, Label: strconv.FormatFloat(y, 'f', 1, 64)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)

	for c := range nc {
		b, err := plotter.NewBarChart(bars[c], barW)
		if err != nil {
			return err
		}
		b.Color = conditionColors[c%len(conditionColors)]
		b.LineStyle.Width = 0
		b.Offset = vg.Length(float64(c)-float64(nc-1)/2) * barW
		p.Add(b)
		p.Legend.Add(conds[c], b)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(10)

	one, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(n) - 0.5, Y: 1}})
	if err != nil {
		return err
	}
	one.LineStyle.Width = vg.Points(1)
	one.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	p.Legend.Add("1.0: level with the baseline", one)
	// A target mark spans its group's bars.
	half := 0.45
	marked := false
	for i, g := range groups {
		if g.target == 0 {
			continue
		}
		x := float64(i)
		l, err := plotter.NewLine(plotter.XYs{{X: x - half, Y: g.target}, {X: x + half, Y: g.target}})
		if err != nil {
			return err
		}
		l.LineStyle.Width = vg.Points(2.5)
		l.LineStyle.Color = color.RGBA{R: 0xcc, A: 0xff}
		p.Add(l)
		if !marked {
			p.Legend.Add("target", l)
			marked = true
		}
	}
	if len(valXY) > 0 {
		vl, err := plotter.NewLabels(plotter.XYLabels{XYs: valXY, Labels: valText})
		if err != nil {
			return err
		}
		for i := range vl.TextStyle {
			vl.TextStyle[i].Font.Size = vg.Points(6)
			vl.TextStyle[i].Rotation = math.Pi / 2
			vl.TextStyle[i].XAlign = draw.XLeft
			vl.TextStyle[i].YAlign = draw.YCenter
		}
		vl.Offset = vg.Point{Y: vg.Points(2)}
		p.Add(vl)
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// chartFiles draws the chart at path from the -json files of runs under
// several conditions (-chart FILE RUN.json ...), measuring nothing. Bad
// files are usage errors.
func chartFiles(path string, files []string, cl *cleanup) error {
	var reps []*report
	for _, f := range files {
		r, err := readReport(f)
		if err != nil {
			return usagef("%s", strings.Replace(err.Error(), "-compare", "-chart", 1))
		}
		reps = append(reps, r)
	}
	out, err := createOutFile("-chart", path)
	if err != nil {
		return err
	}
	cl.add(out.abort)
	var werr error
	if err := out.commit(func(w io.Writer) error { werr = writeChart(w, path, reps); return werr }); err != nil {
		if werr != nil {
			return werr
		}
		return err
	}
	return nil
}
