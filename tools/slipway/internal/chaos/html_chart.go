package chaos

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/svgchart"
)

// layout is every chart's geometry, in SVG user units: 900 wide, with its
// plot area inset, room above it for the band labels and the legend.
func layout(height float64) svgchart.Layout {
	return svgchart.Layout{Width: 900, Height: height, Left: 64, Right: 24, Top: 46, Bottom: 44, LegendTop: 10, LegendStep: 120}
}

// Colours, as `slipway load` draws its charts.
const (
	colorP50        = "#2f6fde"
	colorP99        = "#e8590c"
	colorSuccess    = "#1f7a4d"
	colorGate       = "#b42318"
	colorWindow     = "#f5b700"
	colorWindowText = "#8a6500"
	colorOutage     = "#b42318"
	colorErrorDot   = "#d92d20"
)

// chart is one SVG chart, with what the chaos report draws on it: the
// fault window and outages as bands, and the gates.
type chart struct{ *svgchart.Chart }

func newChart(id, title string, height, x0, x1, y0, y1 float64) chart {
	return chart{svgchart.New(id, title, layout(height), x0, x1, y0, y1)}
}

// band shades [from, to] seconds over the plot's height, at least 2 units
// wide so that a short outage still shows, labelled at the top.
func (c chart) band(class string, from, to float64, fill string, opacity float64, label string) {
	x0, x1 := c.X(from), c.X(to)
	if x1-x0 < 2 {
		x1 = x0 + 2
	}
	c.Printf(`<rect class="%s" x="%g" y="%g" width="%g" height="%g" fill="%s" fill-opacity="%g"><title>%s</title></rect>`,
		class, x0, c.PlotTop(), svgchart.Round(x1-x0), c.PlotBottom()-c.PlotTop(), fill, opacity, html.EscapeString(label))
}

// halo outlines a label in white, so that it reads over the lines it
// crosses.
const halo = ` stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"`

// textWidth estimates the width of label in the charts' 12px font: the
// SVG is drawn without measuring text, so a label that would not fit is
// moved by this estimate.
func textWidth(label string) float64 { return 7 * float64(utf8.RuneCountInString(label)) }

// bandLabels writes the labels of the shaded bands in one line above the
// plot, from x, each in its colour; pulled left when it would run off.
func (c chart) bandLabels(x float64, labels ...[2]string) {
	var width float64
	var spans strings.Builder
	for i, l := range labels {
		text := l[0]
		if i > 0 {
			text = " · " + text
		}
		width += textWidth(text)
		fmt.Fprintf(&spans, `<tspan fill="%s">%s</tspan>`, l[1], html.EscapeString(text))
	}
	x = max(min(x, c.PlotRight()-width), c.PlotLeft())
	c.Printf(`<text class="band-labels" x="%g" y="%g" font-weight="600"%s>%s</text>`, x, c.PlotTop()-8, halo, spans.String())
}

// gate draws a threshold at y across [from, to] seconds, dashed, with its
// label above its right end.
func (c chart) gate(class string, y, from, to float64, label string) {
	x0, x1, yy := c.X(from), c.X(to), c.Y(y)
	c.Printf(`<line class="%s" x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`,
		class, x0, yy, x1, yy, colorGate)
	lx, ly, anchor := x1-4, yy-5, "end"
	if yy-c.PlotTop() < 16 { // no room above: under the line
		ly = yy + 14
	}
	if textWidth(label) > x1-x0 && x1+4+textWidth(label) <= c.PlotRight() { // a short span: beside its end
		lx, anchor = x1+4, "start"
	}
	c.Printf(`<text x="%g" y="%g" text-anchor="%s" fill="%s"%s>%s</text>`, lx, ly, anchor, colorGate, halo, html.EscapeString(label))
}

// series draws one line through the seconds that had requests, with a gap
// over those that had none.
func (c chart) series(class, color string, secs []loadgen.TimelineSecond, value func(loadgen.TimelineSecond) float64) {
	pts := make([]svgchart.Point, len(secs))
	for i, s := range secs {
		pts[i] = svgchart.Point{X: float64(s.Second) + 0.5, Y: math.NaN()}
		if s.Count > 0 {
			pts[i].Y = value(s)
		}
	}
	c.Line(class, color, pts)
}

// timeAxis is the x axis of both charts: the load's seconds, and the fault
// window's when it runs past them (a consumer reset's does).
func timeAxis(r *Report) ([]float64, float64) {
	end := max(r.Load.DurationSec, float64(len(r.PerSecond)))
	if fw := r.FaultWindow; fw != nil {
		end = max(end, fw.ToSec)
	}
	return svgchart.Ticks(end, 10)
}

const xAxisLabel = "seconds into the load (by intended send time)"

// successChart draws each second's success rate against the success-rate
// gates, the fault window and any PostgreSQL outage shaded. Its y axis
// starts low enough to show the lowest second and every gate.
func successChart(r *Report) string {
	xTicks, xTop := timeAxis(r)
	lowest := 1.0
	for _, s := range r.PerSecond {
		if s.Count > 0 {
			lowest = min(lowest, 1-float64(s.Errors)/float64(s.Count))
		}
	}
	lowest = min(lowest, r.Thresholds.SuccessRate)
	faultGate, haveFaultGate := faultSuccessGate(r)
	if haveFaultGate {
		lowest = min(lowest, faultGate)
	}
	depth := max((1-lowest)*1.25, 0.01)
	ticks, top := svgchart.Ticks(depth, 4)
	y0 := max(1-top, 0)
	c := newChart("success-rate", "success rate per second", 300, 0, xTop, y0, 1)
	yTicks := make([]float64, 0, len(ticks))
	for _, t := range ticks {
		if 1-t >= y0-1e-9 {
			yTicks = append(yTicks, 1-t)
		}
	}
	c.Axes(xTicks, svgchart.TickLabel, yTicks, percentLabel, xAxisLabel, "success rate")
	c.shadeFaults(r)
	c.series("series success", colorSuccess, r.PerSecond, func(s loadgen.TimelineSecond) float64 {
		return 1 - float64(s.Errors)/float64(s.Count)
	})
	for _, s := range r.PerSecond {
		if s.Errors > 0 { // a dot where errors were, so that one error shows at any scale
			c.Printf(`<circle class="errors" cx="%g" cy="%g" r="3" fill="%s"><title>second %d: %d of %d failed</title></circle>`,
				c.X(float64(s.Second)+0.5), c.Y(1-float64(s.Errors)/float64(s.Count)), colorErrorDot, s.Second, s.Errors, s.Count)
		}
	}
	label := fmt.Sprintf("gate: whole run ≥ %s (observed %s)", percentLabel(r.Thresholds.SuccessRate), percentLabel(r.Load.SuccessRate))
	if fw := r.FaultWindow; fw != nil && !haveFaultGate && (r.Thresholds.FaultRate == nil || *r.Thresholds.FaultRate > 0) {
		// The window is gated too, at the run's rate.
		label = fmt.Sprintf("gate: whole run and fault window ≥ %s (observed %s, %s)",
			percentLabel(r.Thresholds.SuccessRate), percentLabel(r.Load.SuccessRate), percentLabel(fw.SuccessRate))
	}
	c.gate("gate gate-success", r.Thresholds.SuccessRate, 0, xTop, label)
	if fw := r.FaultWindow; fw != nil && haveFaultGate {
		c.gate("gate gate-fault-success", faultGate, fw.FromSec, fw.ToSec,
			fmt.Sprintf("gate: fault window ≥ %s (observed %s)", percentLabel(faultGate), percentLabel(fw.SuccessRate)))
	}
	c.Legend(svgchart.Key{Label: "success per second", Color: colorSuccess})
	return c.String()
}

// faultSuccessGate is the fault window's own success-rate gate, when it
// differs from the run's and is more than zero (a zero gate only reports).
func faultSuccessGate(r *Report) (float64, bool) {
	fr := r.Thresholds.FaultRate
	if r.FaultWindow == nil || fr == nil || *fr <= 0 || *fr == r.Thresholds.SuccessRate {
		return 0, false
	}
	return *fr, true
}

// latencyChart draws each second's p50 and p99 against the p99 gates,
// with the fault window and any PostgreSQL outage shaded.
func latencyChart(r *Report) string {
	xTicks, xTop := timeAxis(r)
	hi := 0.0
	for _, s := range r.PerSecond {
		hi = max(hi, s.P99)
	}
	p99Gate, haveP99 := durationMS(r.Thresholds.P99)
	faultGate, haveFault := durationMS(r.Thresholds.FaultP99)
	if haveP99 {
		hi = max(hi, p99Gate)
	}
	if haveFault {
		hi = max(hi, faultGate)
	}
	yTicks, yTop := svgchart.Ticks(hi*1.1, 5)
	c := newChart("latency", "p50 and p99 latency per second", 300, 0, xTop, 0, yTop)
	c.Axes(xTicks, svgchart.TickLabel, yTicks, svgchart.TickLabel, xAxisLabel, "latency (ms)")
	c.shadeFaults(r)
	c.series("series p50", colorP50, r.PerSecond, func(s loadgen.TimelineSecond) float64 { return s.P50 })
	c.series("series p99", colorP99, r.PerSecond, func(s loadgen.TimelineSecond) float64 { return s.P99 })
	if haveP99 {
		label := fmt.Sprintf("gate: whole run p99 ≤ %s", r.Thresholds.P99)
		if r.Thresholds.OverOutage != "" {
			label = fmt.Sprintf("gate: whole run p99 ≤ %s (outage %s + %s)", r.Thresholds.P99, r.Thresholds.Outage, r.Thresholds.OverOutage)
		}
		c.gate("gate gate-p99", p99Gate, 0, xTop, label+fmt.Sprintf(" (observed %sms)", loadgen.FormatMS(r.Load.P99)))
	}
	if fw := r.FaultWindow; fw != nil && haveFault {
		c.gate("gate gate-fault-p99", faultGate, fw.FromSec, fw.ToSec,
			fmt.Sprintf("gate: fault window p99 ≤ %s (observed %sms)", r.Thresholds.FaultP99, loadgen.FormatMS(fw.P99)))
	}
	c.Legend(svgchart.Key{Label: "p50 per second", Color: colorP50}, svgchart.Key{Label: "p99 per second", Color: colorP99})
	return c.String()
}

// shadeFaults shades the fault window and the PostgreSQL outages, and
// names them above the plot.
func (c chart) shadeFaults(r *Report) {
	var labels [][2]string
	from := math.Inf(1)
	if fw := r.FaultWindow; fw != nil {
		label := fmt.Sprintf("fault window %s–%s s", svgchart.TickLabel(fw.FromSec), svgchart.TickLabel(fw.ToSec))
		c.band("fault-window", fw.FromSec, fw.ToSec, colorWindow, 0.18, label)
		labels, from = append(labels, [2]string{label, colorWindowText}), fw.FromSec
	}
	for _, o := range r.Outages {
		label := fmt.Sprintf("PostgreSQL away %.2f s", o.ToSec-o.FromSec)
		c.band("outage", o.FromSec, o.ToSec, colorOutage, 0.35, label)
		labels, from = append(labels, [2]string{label, colorOutage}), min(from, o.FromSec)
	}
	if len(labels) > 0 {
		c.bandLabels(c.X(from), labels...)
	}
}

func percentLabel(v float64) string {
	return strconv.FormatFloat(math.Round(v*10000)/100, 'f', -1, 64) + "%"
}

// durationMS reads a threshold as written in the report ("320ms"), in
// milliseconds; false when it is not set.
func durationMS(s string) (float64, bool) {
	d, err := time.ParseDuration(s)
	if s == "" || err != nil {
		return 0, false
	}
	return float64(d) / float64(time.Millisecond), true
}
