// Package svgchart draws the reports' charts as inline SVG: a plot area
// with its grid, ticks, axis labels and legend, in which callers draw with
// data coordinates through X and Y. The SVG is built from numbers and
// escaped text only, so a report may embed it as trusted HTML.
package svgchart

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The colours of the frame every chart shares.
const (
	ColorGrid  = "#e3e7eb"
	ColorTick  = "#b8c0c8"
	ColorAxis  = "#8a949e"
	ColorMuted = "#59636e"
	ColorText  = "#1d232a"
)

// Layout is a chart's geometry in SVG user units: its size, the margins
// around the plot area, and where the legend goes.
type Layout struct {
	Width, Height            float64
	Left, Right, Top, Bottom float64 // the plot area's margins
	LegendTop                float64 // the top of the legend's colour keys
	LegendStep               float64 // the width each legend entry takes
	LogX                     bool    // the x axis is logarithmic
}

// Key is one legend entry: a label and its colour.
type Key struct{ Label, Color string }

// Point is one point of a line in data coordinates; a NaN Y lifts the pen.
type Point struct{ X, Y float64 }

// Chart is one SVG chart being drawn.
type Chart struct {
	b              strings.Builder
	l              Layout
	x0, x1, y0, y1 float64
}

// New starts a chart whose plot shows [x0, x1] × [y0, y1]; an empty range
// is widened to one unit, and a log axis starts above 0.
func New(id, title string, l Layout, x0, x1, y0, y1 float64) *Chart {
	if l.LogX && x0 <= 0 {
		x0 = min(1e-3, x1/10)
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	if y1 <= y0 {
		y1 = y0 + 1
	}
	c := &Chart{l: l, x0: x0, x1: x1, y0: y0, y1: y1}
	c.Printf(`<svg xmlns="http://www.w3.org/2000/svg" id="%s" role="img" viewBox="0 0 %g %g" width="%g" height="%g" font-family="system-ui, sans-serif" font-size="12">`,
		html.EscapeString(id), l.Width, l.Height, l.Width, l.Height)
	c.Printf(`<title>%s</title>`, html.EscapeString(title))
	c.Printf(`<rect x="0" y="0" width="%g" height="%g" fill="#ffffff"/>`, l.Width, l.Height)
	return c
}

// X maps a data x to the picture, clamped to the plot area.
func (c *Chart) X(v float64) float64 {
	v = min(max(v, c.x0), c.x1)
	f := (v - c.x0) / (c.x1 - c.x0)
	if c.l.LogX {
		f = (math.Log10(v) - math.Log10(c.x0)) / (math.Log10(c.x1) - math.Log10(c.x0))
	}
	return Round(c.l.Left + f*(c.PlotRight()-c.l.Left))
}

// Y maps a data y to the picture, clamped to the plot area.
func (c *Chart) Y(v float64) float64 {
	v = min(max(v, c.y0), c.y1)
	f := (v - c.y0) / (c.y1 - c.y0)
	return Round(c.PlotBottom() - f*(c.PlotBottom()-c.PlotTop()))
}

// PlotLeft is the plot area's left edge.
func (c *Chart) PlotLeft() float64 { return c.l.Left }

// PlotRight is the plot area's right edge.
func (c *Chart) PlotRight() float64 { return c.l.Width - c.l.Right }

// PlotTop is the plot area's top edge.
func (c *Chart) PlotTop() float64 { return c.l.Top }

// PlotBottom is the plot area's bottom edge.
func (c *Chart) PlotBottom() float64 { return c.l.Height - c.l.Bottom }

// Printf adds markup to the chart. Text in it must be escaped
// (html.EscapeString): the chart is embedded as it is.
func (c *Chart) Printf(format string, args ...any) { fmt.Fprintf(&c.b, format, args...) }

// Axes draws the grid at the y ticks, the x ticks, both axes and their
// labels.
func (c *Chart) Axes(xTicks []float64, xFmt func(float64) string, yTicks []float64, yFmt func(float64) string, xLabel, yLabel string) {
	left, right, top, bottom := c.PlotLeft(), c.PlotRight(), c.PlotTop(), c.PlotBottom()
	for _, t := range yTicks {
		y := c.Y(t)
		c.Printf(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s"/>`, left, y, right, y, ColorGrid)
		c.Printf(`<text x="%g" y="%g" text-anchor="end" fill="%s">%s</text>`, left-6, y+4, ColorMuted, html.EscapeString(yFmt(t)))
	}
	for _, t := range xTicks {
		x := c.X(t)
		c.Printf(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s"/>`, x, bottom, x, bottom+5, ColorTick)
		c.Printf(`<text x="%g" y="%g" text-anchor="middle" fill="%s">%s</text>`, x, bottom+18, ColorMuted, html.EscapeString(xFmt(t)))
	}
	c.Printf(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s"/>`, left, bottom, right, bottom, ColorAxis)
	c.Printf(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s"/>`, left, top, left, bottom, ColorAxis)
	c.Printf(`<text x="%g" y="%g" text-anchor="middle" fill="%s">%s</text>`, (left+right)/2, c.l.Height-6, ColorMuted, html.EscapeString(xLabel))
	mid := (top + bottom) / 2
	c.Printf(`<text x="14" y="%g" text-anchor="middle" fill="%s" transform="rotate(-90 14 %g)">%s</text>`, mid, ColorMuted, mid, html.EscapeString(yLabel))
}

// Line draws a line through pts in data coordinates, with a gap wherever
// a point's Y is NaN; nothing when no point has a Y.
func (c *Chart) Line(class, color string, pts []Point) {
	var d strings.Builder
	pen := "M"
	for _, p := range pts {
		if math.IsNaN(p.Y) {
			pen = "M"
			continue
		}
		fmt.Fprintf(&d, "%s%g %g ", pen, c.X(p.X), c.Y(p.Y))
		pen = "L"
	}
	if d.Len() > 0 {
		c.Printf(`<path class="%s" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>`,
			html.EscapeString(class), strings.TrimSpace(d.String()), color)
	}
}

// Legend draws the keys in a row that ends at the plot's right edge.
func (c *Chart) Legend(keys ...Key) {
	x := c.PlotRight() - c.l.LegendStep*float64(len(keys))
	for _, k := range keys {
		c.Printf(`<rect x="%g" y="%g" width="14" height="4" fill="%s"/>`, x, c.l.LegendTop, k.Color)
		c.Printf(`<text x="%g" y="%g" fill="%s">%s</text>`, x+20, c.l.LegendTop+6, ColorText, html.EscapeString(k.Label))
		x += c.l.LegendStep
	}
}

// String is the finished SVG element.
func (c *Chart) String() string { return c.b.String() + "</svg>" }

// Round rounds a coordinate to the tenth of a unit the charts are written in.
func Round(v float64) float64 { return math.Round(v*10) / 10 }

// Ticks returns about n round tick values (1, 2, 2.5 or 5 times a power of
// ten apart) from 0 to at least hi, and the top of the axis. A hi that is
// not a positive number is taken as 1.
func Ticks(hi float64, n int) ([]float64, float64) {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		hi = 1
	}
	n = max(n, 1)
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	// The epsilon keeps a hi that is a multiple of step, give or take
	// floating point, from growing the axis by a whole step.
	top := math.Ceil(hi/step-1e-9) * step
	var ticks []float64
	for i := 0.0; i*step <= top+step/2; i++ {
		ticks = append(ticks, math.Round(i*step*1e9)/1e9)
	}
	return ticks, top
}

// LogTicks returns ticks at 1, 2 and 5 times each power of ten in
// [lo, hi], only the powers when the range spans more than three decades.
func LogTicks(lo, hi float64) []float64 {
	if lo <= 0 || hi < lo {
		return nil
	}
	steps := []float64{1, 2, 5}
	if math.Log10(hi/lo) > 3 {
		steps = []float64{1}
	}
	var ticks []float64
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range steps {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				ticks = append(ticks, v)
			}
		}
	}
	return ticks
}

// TickLabel writes a tick's value with at most four significant digits.
func TickLabel(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
