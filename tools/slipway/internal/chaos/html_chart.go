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
)

// The charts' geometry, in SVG user units: every chart is chartWidth wide,
// with its plot area inset by these margins.
const (
	chartWidth  = 900
	chartLeft   = 64
	chartRight  = 24
	chartTop    = 46
	chartBottom = 44
)

// Colours, as `slipway load` draws its charts.
const (
	colorP50        = "#2f6fde"
	colorP99        = "#e8590c"
	colorSuccess    = "#1f7a4d"
	colorGate       = "#b42318"
	colorWindow     = "#f5b700"
	colorWindowText = "#8a6500"
	colorOutage     = "#b42318"
	colorGrid       = "#e3e7eb"
	colorAxis       = "#8a949e"
	colorMuted      = "#59636e"
	colorText       = "#1d232a"
	colorTick       = "#b8c0c8"
	colorErrorDot   = "#d92d20"
)

// chart is one SVG chart: a plot area with axes and grid, in which the
// callers draw with data coordinates through X and Y.
type chart struct {
	b              strings.Builder
	h              float64
	x0, x1, y0, y1 float64
}

func newChart(id, title string, height, x0, x1, y0, y1 float64) *chart {
	c := &chart{h: height, x0: x0, x1: x1, y0: y0, y1: y1}
	if c.x1 <= c.x0 {
		c.x1 = c.x0 + 1
	}
	if c.y1 <= c.y0 {
		c.y1 = c.y0 + 1
	}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" role="img" viewBox="0 0 %d %g" width="%d" height="%g" font-family="system-ui, sans-serif" font-size="12">`,
		html.EscapeString(id), chartWidth, height, chartWidth, height)
	fmt.Fprintf(&c.b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(&c.b, `<rect x="0" y="0" width="%d" height="%g" fill="#ffffff"/>`, chartWidth, height)
	return c
}

// X and Y map data coordinates to the picture, clamped to the plot area.
func (c *chart) X(v float64) float64 {
	v = min(max(v, c.x0), c.x1)
	return round1(chartLeft + (v-c.x0)/(c.x1-c.x0)*(chartWidth-chartLeft-chartRight))
}

func (c *chart) Y(v float64) float64 {
	v = min(max(v, c.y0), c.y1)
	return round1(c.h - chartBottom - (v-c.y0)/(c.y1-c.y0)*(c.h-chartTop-chartBottom))
}

func (c *chart) plotTop() float64    { return chartTop }
func (c *chart) plotBottom() float64 { return c.h - chartBottom }
func (c *chart) plotRight() float64  { return chartWidth - chartRight }

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// axes draws the grid, the ticks and the axis labels.
func (c *chart) axes(xTicks []float64, yTicks []float64, yFmt func(float64) string, xLabel, yLabel string) {
	for _, t := range yTicks {
		y := c.Y(t)
		fmt.Fprintf(&c.b, `<line x1="%d" y1="%g" x2="%g" y2="%g" stroke="%s"/>`, chartLeft, y, c.plotRight(), y, colorGrid)
		fmt.Fprintf(&c.b, `<text x="%d" y="%g" text-anchor="end" fill="%s">%s</text>`, chartLeft-6, y+4, colorMuted, html.EscapeString(yFmt(t)))
	}
	for _, t := range xTicks {
		x := c.X(t)
		fmt.Fprintf(&c.b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s"/>`, x, c.plotBottom(), x, c.plotBottom()+5, colorTick)
		fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="middle" fill="%s">%s</text>`, x, c.plotBottom()+18, colorMuted, tickLabel(t))
	}
	fmt.Fprintf(&c.b, `<line x1="%d" y1="%g" x2="%g" y2="%g" stroke="%s"/>`, chartLeft, c.plotBottom(), c.plotRight(), c.plotBottom(), colorAxis)
	fmt.Fprintf(&c.b, `<line x1="%d" y1="%g" x2="%d" y2="%g" stroke="%s"/>`, chartLeft, c.plotTop(), chartLeft, c.plotBottom(), colorAxis)
	fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="middle" fill="%s">%s</text>`, (chartLeft+c.plotRight())/2, c.h-6, colorMuted, html.EscapeString(xLabel))
	mid := (c.plotTop() + c.plotBottom()) / 2
	fmt.Fprintf(&c.b, `<text x="14" y="%g" text-anchor="middle" fill="%s" transform="rotate(-90 14 %g)">%s</text>`, mid, colorMuted, mid, html.EscapeString(yLabel))
}

// band shades [from, to] seconds over the plot's height, at least 2 units
// wide so that a short outage still shows, labelled at the top.
func (c *chart) band(class string, from, to float64, fill string, opacity float64, label string) {
	x0, x1 := c.X(from), c.X(to)
	if x1-x0 < 2 {
		x1 = x0 + 2
	}
	fmt.Fprintf(&c.b, `<rect class="%s" x="%g" y="%g" width="%g" height="%g" fill="%s" fill-opacity="%g"><title>%s</title></rect>`,
		class, x0, c.plotTop(), round1(x1-x0), c.plotBottom()-c.plotTop(), fill, opacity, html.EscapeString(label))
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
func (c *chart) bandLabels(x float64, labels ...[2]string) {
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
	x = max(min(x, c.plotRight()-width), chartLeft)
	fmt.Fprintf(&c.b, `<text class="band-labels" x="%g" y="%g" font-weight="600"%s>%s</text>`, x, c.plotTop()-8, halo, spans.String())
}

// gate draws a threshold at y across [from, to] seconds, dashed, with its
// label above its right end.
func (c *chart) gate(class string, y, from, to float64, label string) {
	x0, x1, yy := c.X(from), c.X(to), c.Y(y)
	fmt.Fprintf(&c.b, `<line class="%s" x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`,
		class, x0, yy, x1, yy, colorGate)
	lx, ly, anchor := x1-4, yy-5, "end"
	if yy-c.plotTop() < 16 { // no room above: under the line
		ly = yy + 14
	}
	if textWidth(label) > x1-x0 && x1+4+textWidth(label) <= c.plotRight() { // a short span: beside its end
		lx, anchor = x1+4, "start"
	}
	fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="%s" fill="%s"%s>%s</text>`, lx, ly, anchor, colorGate, halo, html.EscapeString(label))
}

// series draws one line through the seconds that had requests, with a gap
// over those that had none.
func (c *chart) series(class, color string, secs []loadgen.TimelineSecond, value func(loadgen.TimelineSecond) float64) {
	var d strings.Builder
	pen := "M"
	for _, s := range secs {
		if s.Count == 0 {
			pen = "M"
			continue
		}
		fmt.Fprintf(&d, "%s%g %g ", pen, c.X(float64(s.Second)+0.5), c.Y(value(s)))
		pen = "L"
	}
	if d.Len() > 0 {
		fmt.Fprintf(&c.b, `<path class="%s" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>`,
			class, strings.TrimSpace(d.String()), color)
	}
}

// legend draws coloured keys along the top right.
func (c *chart) legend(items ...[2]string) {
	x := c.plotRight() - float64(120*len(items))
	for _, it := range items {
		fmt.Fprintf(&c.b, `<rect x="%g" y="10" width="14" height="4" fill="%s"/>`, x, it[1])
		fmt.Fprintf(&c.b, `<text x="%g" y="16" fill="%s">%s</text>`, x+20, colorText, html.EscapeString(it[0]))
		x += 120
	}
}

func (c *chart) String() string { return c.b.String() + "</svg>" }

// niceTicks returns about n round tick values from 0 to at least hi, and
// the top of the axis.
func niceTicks(hi float64, n int) ([]float64, float64) {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		hi = 1
	}
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	top := math.Ceil(hi/step-1e-9) * step
	var ticks []float64
	for i := 0.0; i*step <= top+step/2; i++ {
		ticks = append(ticks, math.Round(i*step*1e9)/1e9)
	}
	return ticks, top
}

func tickLabel(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// timeAxis is the x axis of both charts: the load's seconds, and the fault
// window's when it runs past them (a consumer reset's does).
func timeAxis(r *Report) ([]float64, float64) {
	end := max(r.Load.DurationSec, float64(len(r.PerSecond)))
	if fw := r.FaultWindow; fw != nil {
		end = max(end, fw.ToSec)
	}
	return niceTicks(end, 10)
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
	ticks, top := niceTicks(depth, 4)
	y0 := max(1-top, 0)
	c := newChart("success-rate", "success rate per second", 300, 0, xTop, y0, 1)
	yTicks := make([]float64, 0, len(ticks))
	for _, t := range ticks {
		if 1-t >= y0-1e-9 {
			yTicks = append(yTicks, 1-t)
		}
	}
	c.axes(xTicks, yTicks, percentLabel, xAxisLabel, "success rate")
	c.shadeFaults(r)
	c.series("series success", colorSuccess, r.PerSecond, func(s loadgen.TimelineSecond) float64 {
		return 1 - float64(s.Errors)/float64(s.Count)
	})
	for _, s := range r.PerSecond {
		if s.Errors > 0 { // a dot where errors were, so that one error shows at any scale
			fmt.Fprintf(&c.b, `<circle class="errors" cx="%g" cy="%g" r="3" fill="%s"><title>second %d: %d of %d failed</title></circle>`,
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
	c.legend([2]string{"success per second", colorSuccess})
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
	yTicks, yTop := niceTicks(hi*1.1, 5)
	c := newChart("latency", "p50 and p99 latency per second", 300, 0, xTop, 0, yTop)
	c.axes(xTicks, yTicks, tickLabel, xAxisLabel, "latency (ms)")
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
	c.legend([2]string{"p50 per second", colorP50}, [2]string{"p99 per second", colorP99})
	return c.String()
}

// shadeFaults shades the fault window and the PostgreSQL outages, and
// names them above the plot.
func (c *chart) shadeFaults(r *Report) {
	var labels [][2]string
	from := math.Inf(1)
	if fw := r.FaultWindow; fw != nil {
		label := fmt.Sprintf("fault window %s–%s s", tickLabel(fw.FromSec), tickLabel(fw.ToSec))
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
