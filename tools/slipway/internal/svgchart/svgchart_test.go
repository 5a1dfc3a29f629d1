package svgchart

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plain is a 1000 × 300 chart whose plot area is [100, 900] × [50, 250].
var plain = Layout{Width: 1000, Height: 300, Left: 100, Right: 100, Top: 50, Bottom: 50, LegendTop: 10, LegendStep: 100}

func TestXAndYMapDataToThePlotArea(t *testing.T) {
	c := New("c", "t", plain, 0, 10, 0, 100)
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"x at the low end is the left edge", c.X(0), 100},
		{"x at the high end is the right edge", c.X(10), 900},
		{"x in between is proportional", c.X(2.5), 300},
		{"x rounds to a tenth", c.X(1.0 / 3), 126.7},
		{"x below the range is clamped", c.X(-5), 100},
		{"x above the range is clamped", c.X(50), 900},
		{"y at the low end is the bottom edge", c.Y(0), 250},
		{"y at the high end is the top edge", c.Y(100), 50},
		{"y in between counts up from the bottom", c.Y(25), 200},
		{"y below the range is clamped", c.Y(-1), 250},
		{"y above the range is clamped", c.Y(1e9), 50},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.InDelta(t, tc.want, tc.got, 1e-9) })
	}
	assert.InDelta(t, 100.0, c.PlotLeft(), 0)
	assert.InDelta(t, 900.0, c.PlotRight(), 0)
	assert.InDelta(t, 50.0, c.PlotTop(), 0)
	assert.InDelta(t, 250.0, c.PlotBottom(), 0)
}

func TestLogXMapsDecadesEvenly(t *testing.T) {
	l := plain
	l.LogX = true
	c := New("c", "t", l, 1, 1000, 0, 1)
	assert.InDelta(t, 100.0, c.X(1), 1e-9)
	assert.InDelta(t, 100+800.0/3, c.X(10), 0.05)
	assert.InDelta(t, 100+1600.0/3, c.X(100), 0.05)
	assert.InDelta(t, 900.0, c.X(1000), 1e-9)
	assert.InDelta(t, 100.0, c.X(0), 1e-9, "0 is clamped to the axis, not -Inf")

	z := New("c", "t", l, 0, 10, 0, 1)
	for _, v := range []float64{0, 1e-6, 1, 10} {
		x := z.X(v)
		assert.False(t, math.IsNaN(x) || math.IsInf(x, 0), "a log axis from 0 maps %g to %g", v, x)
	}
	assert.InDelta(t, 900.0, z.X(10), 1e-9)
}

func TestAnEmptyRangeIsWidened(t *testing.T) {
	c := New("c", "t", plain, 5, 5, 3, 3)
	assert.InDelta(t, 100.0, c.X(5), 1e-9)
	assert.InDelta(t, 900.0, c.X(6), 1e-9)
	assert.InDelta(t, 250.0, c.Y(3), 1e-9)
	assert.InDelta(t, 50.0, c.Y(4), 1e-9)
}

// lowest is a variable, so that arithmetic on it is done in float64, not
// exactly as on constants.
var lowest = 0.992

func TestTicksAreRound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hi    float64
		n     int
		ticks []float64
		top   float64
	}{
		{"steps of 1", 10, 10, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10},
		{"steps of 2.5", 10, 4, []float64{0, 2.5, 5, 7.5, 10}, 10},
		{"the top rounds up to a step", 43, 4, []float64{0, 20, 40, 60}, 60},
		{"steps of 5", 17, 4, []float64{0, 5, 10, 15, 20}, 20},
		{"steps of 200", 910, 5, []float64{0, 200, 400, 600, 800, 1000}, 1000},
		// 0.3/0.1 is 2.9999999999999996 and 0.1*3 is 0.30000000000000004:
		// neither shows in the ticks.
		{"tenths without float noise", 0.3, 3, []float64{0, 0.1, 0.2, 0.3}, 0.3},
		// (1-0.992)*1.25 is 0.010000000000000009, two steps of 0.005 and a
		// hair: the axis stops at 0.01, not a step later.
		{"float noise over a step adds no step", (1 - lowest) * 1.25, 4, []float64{0, 0.005, 0.01}, 0.01},
		{"zero is taken as 1", 0, 4, []float64{0, 0.25, 0.5, 0.75, 1}, 1},
		{"negative is taken as 1", -3, 4, []float64{0, 0.25, 0.5, 0.75, 1}, 1},
		{"NaN is taken as 1", math.NaN(), 2, []float64{0, 0.5, 1}, 1},
		{"Inf is taken as 1", math.Inf(1), 2, []float64{0, 0.5, 1}, 1},
		{"n below 1 is one step", 7, 0, []float64{0, 10}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ticks, top := Ticks(tc.hi, tc.n)
			assert.Equal(t, tc.ticks, ticks)
			assert.InDelta(t, tc.top, top, 1e-12)
		})
	}
}

func TestLogTicks(t *testing.T) {
	assert.Equal(t, []float64{1, 2, 5, 10, 20, 50, 100}, LogTicks(1, 100))
	assert.Equal(t, []float64{0.2, 0.5, 1, 2}, LogTicks(0.15, 3))
	assert.Equal(t, []float64{0.001, 0.01, 0.1, 1, 10}, LogTicks(0.001, 10), "more than three decades: the powers only")
	assert.Nil(t, LogTicks(0, 10), "no log ticks from 0")
	assert.Nil(t, LogTicks(10, 1), "no ticks for a reversed range")
}

func TestTickLabel(t *testing.T) {
	assert.Equal(t, "0.3", TickLabel(0.1*3))
	assert.Equal(t, "2.5", TickLabel(2.5))
	assert.Equal(t, "1000", TickLabel(1000))
	assert.Equal(t, "1.235e+04", TickLabel(12346))
}

// wellFormed fails unless doc is well-formed XML, as an inline SVG must be.
func wellFormed(t *testing.T, doc string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err, "well-formed: %s", doc)
	}
}

func TestTextIsEscaped(t *testing.T) {
	bad := `<script>alert("x")</script> & 'y'`
	c := New(bad, bad, plain, 0, 10, 0, 10)
	c.Axes([]float64{0, 5}, func(float64) string { return bad }, []float64{0, 5}, func(float64) string { return bad }, bad, bad)
	c.Line(bad, "#000", []Point{{0, 0}, {1, 1}})
	c.Legend(Key{Label: bad, Color: "#000"})
	doc := c.String()
	wellFormed(t, doc)
	assert.NotContains(t, doc, "<script>")
	assert.NotContains(t, doc, `"x"`)
	// The id, the title, two x and two y tick labels, two axis labels, the
	// line's class and the legend label.
	assert.Equal(t, 10, strings.Count(doc, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;y&#39;"))
}

func TestAxesDrawGridTicksAndLabels(t *testing.T) {
	c := New("c", "t", plain, 0, 10, 0, 100)
	c.Axes([]float64{0, 5, 10}, TickLabel, []float64{0, 50, 100}, func(v float64) string { return TickLabel(v) + "%" }, "seconds", "rate")
	doc := c.String()
	wellFormed(t, doc)
	assert.Contains(t, doc, `<line x1="100" y1="150" x2="900" y2="150" stroke="#e3e7eb"/>`, "the grid line at y 50")
	assert.Contains(t, doc, `<text x="94" y="154" text-anchor="end" fill="#59636e">50%</text>`, "its label, left of the axis")
	assert.Contains(t, doc, `<line x1="500" y1="250" x2="500" y2="255" stroke="#b8c0c8"/>`, "the tick at x 5")
	assert.Contains(t, doc, `<text x="500" y="268" text-anchor="middle" fill="#59636e">5</text>`)
	assert.Contains(t, doc, `<text x="500" y="294" text-anchor="middle" fill="#59636e">seconds</text>`, "the x axis label, centred")
	assert.Contains(t, doc, `transform="rotate(-90 14 150)">rate</text>`, "the y axis label, turned")
}

func TestLineLeavesAGapAtNaN(t *testing.T) {
	c := New("c", "t", plain, 0, 10, 0, 100)
	c.Line("series", "#123456", []Point{{0, 0}, {5, 50}, {6, math.NaN()}, {10, 100}})
	assert.Contains(t, c.String(), `<path class="series" d="M100 250 L500 150 M900 50" fill="none" stroke="#123456"`)

	empty := New("c", "t", plain, 0, 10, 0, 100)
	empty.Line("series", "#123456", []Point{{1, math.NaN()}})
	assert.NotContains(t, empty.String(), "<path", "no point, no path")
}

func TestLegendEndsAtThePlotsRightEdge(t *testing.T) {
	c := New("c", "t", plain, 0, 10, 0, 100)
	c.Legend(Key{"p50", "#111111"}, Key{"p99", "#222222"})
	doc := c.String()
	assert.Contains(t, doc, `<rect x="700" y="10" width="14" height="4" fill="#111111"/><text x="720" y="16" fill="#1d232a">p50</text>`)
	assert.Contains(t, doc, `<rect x="800" y="10" width="14" height="4" fill="#222222"/><text x="820" y="16" fill="#1d232a">p99</text>`)
}

func TestChartIsOneSVGElement(t *testing.T) {
	doc := New("latency", "p99 per second", plain, 0, 1, 0, 1).String()
	wellFormed(t, doc)
	assert.True(t, strings.HasPrefix(doc, `<svg xmlns="http://www.w3.org/2000/svg" id="latency" role="img" viewBox="0 0 1000 300" width="1000" height="300"`))
	assert.Contains(t, doc, `<title>p99 per second</title>`)
	assert.True(t, strings.HasSuffix(doc, "</svg>"))
}
