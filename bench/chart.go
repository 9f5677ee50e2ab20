package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// external reports whether impl is another engine rather than the Go
// standard library's way (a separate tool, or gnet): the chart gives those
// their own bar series.
func external(impl string) bool { return impl == implFio || impl == implCp || impl == implGnet }

// writeChart draws a grouped bar chart of the ratios (aioring / baseline)
// per case: one bar against the Go baseline, one against the external tool
// where the case has one, a line at 1.0 and a mark at each target.
func writeChart(w io.Writer, path string, r *report) error {
	type group struct {
		label          string
		goR, extR      float64
		goTgt, extTgt  float64
		goName, extNam string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, x := range r.Results {
		if x.Impl == implAio {
			continue
		}
		key := x.Scenario + " " + x.Case
		g := byKey[key]
		if g == nil {
			g = &group{label: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		if external(x.Impl) {
			g.extR, g.extTgt, g.extNam = x.Ratio, x.ChartTarget, x.Impl
		} else if g.goName == "" {
			// The first Go baseline of a case is the one the issue names.
			g.goR, g.goTgt, g.goName = x.Ratio, x.ChartTarget, x.Impl
		}
	}
	if len(groups) == 0 {
		return fmt.Errorf("nothing to chart")
	}
	n := len(groups)
	width := vg.Length(math.Max(10, 0.55*float64(n))) * vg.Inch
	height := 6 * vg.Inch
	slot := (width - vg.Inch) / vg.Length(n) // one case's share of the x axis
	barW := 0.38 * slot

	p := plot.New()
	p.Y.Label.Text = "ratio (ops/s, or MB/s for copy)"
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min = 0
	// Ratios span orders of magnitude; a bar taller than the cap is cut
	// there, and every bar carries its true value as a label.
	const yCap = 3.0
	p.Title.Text = fmt.Sprintf("aioring / baseline, %s mode, %s (higher is better; red marks: targets; bars cut at %.0fx)", r.Mode, r.shortCondition(), yCap)
	labels := make([]string, n)
	goVals := make(plotter.Values, n)
	extVals := make(plotter.Values, n)
	var valXY plotter.XYs
	var valText []string
	ymax := 1.6
	for i, g := range groups {
		labels[i] = g.label
		goVals[i], extVals[i] = math.Min(g.goR, yCap), math.Min(g.extR, yCap)
		ymax = math.Max(ymax, math.Max(goVals[i], extVals[i]))
		for _, b := range []struct{ v, x float64 }{{g.goR, float64(i) - 0.19}, {g.extR, float64(i) + 0.19}} {
			if b.v > 0 {
				valXY = append(valXY, plotter.XY{X: b.x, Y: math.Min(b.v, yCap)})
				valText = append(valText, fmt.Sprintf("%.2f", b.v))
			}
		}
	}
	p.Y.Max = ymax * 1.25 // room for the labels and the legend
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = math.Pi / 3
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter

	goBars, err := plotter.NewBarChart(goVals, barW)
	if err != nil {
		return err
	}
	goBars.Color = color.RGBA{R: 0x33, G: 0x66, B: 0xcc, A: 0xff}
	goBars.LineStyle.Width = 0
	goBars.Offset = -barW / 2
	extBars, err := plotter.NewBarChart(extVals, barW)
	if err != nil {
		return err
	}
	extBars.Color = color.RGBA{R: 0xee, G: 0x88, B: 0x22, A: 0xff}
	extBars.LineStyle.Width = 0
	extBars.Offset = barW / 2
	p.Add(goBars, extBars)
	p.Legend.Add("vs the Go way (stdlib, net, io.Copy, time.AfterFunc, raw ring)", goBars)
	p.Legend.Add("vs another engine (fio, cp, gnet)", extBars)
	p.Legend.Top = true

	one, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(n) - 0.5, Y: 1}})
	if err != nil {
		return err
	}
	one.LineStyle.Width = vg.Points(1)
	one.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	// A target mark spans the bar it applies to.
	half := 0.38
	var marked bool
	for i, g := range groups {
		x := float64(i)
		for _, t := range []struct {
			y      float64
			x0, x1 float64
		}{{g.goTgt, x - half, x}, {g.extTgt, x, x + half}} {
			if t.y == 0 {
				continue
			}
			l, err := plotter.NewLine(plotter.XYs{{X: t.x0, Y: t.y}, {X: t.x1, Y: t.y}})
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
	}
	if len(valXY) > 0 {
		vl, err := plotter.NewLabels(plotter.XYLabels{XYs: valXY, Labels: valText})
		if err != nil {
			return err
		}
		for i := range vl.TextStyle {
			vl.TextStyle[i].Font.Size = vg.Points(7)
			vl.TextStyle[i].XAlign = draw.XCenter
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
