package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"html"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// result is the JSON result of a run; the HTML report is drawn from it.
type result struct {
	Scenario    string                   `json:"scenario"`
	StartedAt   time.Time                `json:"started_at"`
	FinishedAt  time.Time                `json:"finished_at"`
	Interrupted bool                     `json:"interrupted,omitempty"`
	HardStopped bool                     `json:"hard_stopped,omitempty"`
	Config      config                   `json:"config"`
	Setup       *loadgen.Setup           `json:"setup,omitempty"`
	Warmup      *warmupFigures           `json:"warmup,omitempty"`
	Totals      loadgen.Totals           `json:"totals"`
	Latency     loadgen.Latency          `json:"latency_ms"`
	Errors      []loadgen.ErrorCount     `json:"errors"`
	HTTPStatus  map[string]int64         `json:"http_status,omitempty"`
	Timeline    []loadgen.TimelineSecond `json:"timeline"`
	Histogram   []loadgen.HistogramBin   `json:"histogram"`
	Gate        *gate                    `json:"gate,omitempty"`
	Usage       *runUsage                `json:"usage,omitempty"`
	Metrics     string                   `json:"metrics_error,omitempty"` // why usage is missing or partial
	Report      files                    `json:"report"`
}

// config is how the run was set up.
type config struct {
	Rate        float64 `json:"rate"`
	Duration    string  `json:"duration"`
	DurationSec float64 `json:"duration_s"`
	MaxInflight int     `json:"max_inflight"`
	Warmup      string  `json:"warmup"`
	Timeout     string  `json:"timeout"`
	Target      string  `json:"target"`
	Protocol    string  `json:"protocol,omitempty"`
	Method      string  `json:"method,omitempty"`
	URL         string  `json:"url,omitempty"`
	Users       int     `json:"users,omitempty"`
	Command     string  `json:"command,omitempty"`
}

// warmupFigures summarises the warm-up, which the figures leave out.
type warmupFigures struct {
	Duration string  `json:"duration"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
}

// gate is the --max-error-rate verdict.
type gate struct {
	MaxErrorRate float64 `json:"max_error_rate"`
	Passed       bool    `json:"passed"`
}

// files are where the result and the report were written.
type files struct {
	JSON string `json:"json"`
	HTML string `json:"html"`
}

// writeFiles writes the JSON result and the HTML report.
func writeFiles(res result) error {
	if err := os.MkdirAll(filepath.Dir(res.Report.JSON), 0o750); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(res.Report.JSON, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write the result: %w", err)
	}
	var page bytes.Buffer
	if err := renderHTML(&page, res); err != nil {
		return fmt.Errorf("render the report: %w", err)
	}
	if err := os.WriteFile(res.Report.HTML, page.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

// page is what the report template shows.
type page struct {
	result
	Title     string
	Started   string
	Rate      string
	ErrorPct  string
	GatePct   string
	Latencies []namedValue
	Timeline  template.HTML
	Traffic   template.HTML
	Histogram template.HTML
}

type namedValue struct{ Name, Value string }

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"mib": func(b float64) string { return fmt.Sprintf("%.1f", b/(1<<20)) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a; margin: 2rem auto; max-width: 980px; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; }
.sub { color: #59636e; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; padding: .25rem .9rem .25rem 0; border-bottom: 1px solid #e3e7eb; vertical-align: top; }
th { color: #59636e; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.tiles { display: flex; flex-wrap: wrap; gap: .6rem; margin: 1rem 0; }
.tile { border: 1px solid #d5dbe1; border-radius: 6px; padding: .5rem .8rem; min-width: 6.5rem; }
.tile b { display: block; font-size: 1.25rem; font-variant-numeric: tabular-nums; }
.tile span { color: #59636e; font-size: .8rem; }
.bad { color: #b42318; }
svg { display: block; max-width: 100%; height: auto; margin: .5rem 0 1rem; }
code { font-size: 12px; background: #f3f5f7; padding: .1rem .3rem; border-radius: 3px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Config.Target}} · {{.Rate}}/s for {{.Config.Duration}} · at most {{.Config.MaxInflight}} in flight · timeout {{.Config.Timeout}} · started {{.Started}}</p>
{{if .Interrupted}}<p class="bad">Interrupted: the figures cover part of the schedule.</p>{{end}}
{{if .HardStopped}}<p class="bad">The run hit its hard stop (duration + timeout) with requests still queued; they count as NotSent.</p>{{end}}
<div class="tiles">
{{range .Latencies}}<div class="tile"><b>{{.Value}}</b><span>{{.Name}}</span></div>
{{end}}</div>
<table>
<tr><th>planned</th><th>sent</th><th>ok</th><th>errors</th><th>error rate</th><th>achieved rate</th><th>ok throughput</th><th>late starts</th><th>late by p99</th><th>max start lag</th></tr>
<tr><td class="num">{{.Totals.Planned}}</td><td class="num">{{.Totals.Sent}}</td><td class="num">{{.Totals.OK}}</td><td class="num">{{.Totals.Errors}}</td><td class="num">{{.ErrorPct}}</td><td class="num">{{printf "%.1f/s" .Totals.AchievedRate}}</td><td class="num">{{printf "%.1f/s" .Totals.Throughput}}</td><td class="num">{{.Totals.LateStarts}}</td><td class="num">{{printf "%.3f ms" .Totals.LateStartLag.P99}}</td><td class="num">{{printf "%.3f ms" .Totals.MaxStartLag}}</td></tr>
</table>
{{with .Warmup}}<p>Warm-up: {{.Requests}} requests in {{.Duration}} before the measured run, {{.Errors}} errors, p99 {{printf "%.2f" .P99}} ms; not counted in the figures.</p>{{end}}
{{with .Setup}}<p>Setup: {{.Users}} users, {{.Products}} products{{with .Restock}}; restocked {{.Units}} units on {{.Products}} products as {{.As}}{{end}}.</p>{{end}}
{{with .Gate}}<p>Gate: error rate {{$.ErrorPct}} at most {{$.GatePct}}: {{if .Passed}}PASS{{else}}<span class="bad">FAIL</span>{{end}}</p>{{end}}

<h2>Latency over time</h2>
<p class="sub">p50 and p99 of the requests due in each second, measured from their intended send time.</p>
{{.Timeline}}

<h2>Requests and errors per second</h2>
{{.Traffic}}

<h2>Latency histogram</h2>
<p class="sub">Requests per latency bin (log scale, ten bins a decade), with p50, p99 and p99.9 marked.</p>
{{.Histogram}}

{{with .Usage}}<h2>Services' CPU and memory</h2>
<p class="sub">From each service's /metrics before and after the run ({{printf "%.1f" .Seconds}} s apart){{with .Orders}}; {{.}} orders placed{{end}}. <code>slipway cost --load</code> prices them.</p>
<table>
<tr><th>service</th><th>CPU s</th><th>cores</th><th>RSS MiB at start</th><th>at end</th></tr>
{{range .Services}}<tr><td>{{.Service}}</td><td class="num">{{printf "%.2f" .CPUSeconds}}</td><td class="num">{{printf "%.3f" .CPUCores}}</td><td class="num">{{mib .RSSBytesStart}}</td><td class="num">{{mib .RSSBytesEnd}}</td></tr>
{{end}}</table>{{end}}
{{with .Metrics}}<p class="bad">{{.}}</p>{{end}}

<h2>Errors by code</h2>
{{if .Errors}}<table>
<tr><th>code</th><th>count</th><th>first message</th></tr>
{{range .Errors}}<tr><td>{{.Code}}</td><td class="num">{{.Count}}</td><td>{{.Example}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
{{if .HTTPStatus}}<h2>HTTP statuses</h2>
<table><tr><th>status</th><th>count</th></tr>
{{range $k, $v := .HTTPStatus}}<tr><td>{{$k}}</td><td class="num">{{$v}}</td></tr>
{{end}}</table>{{end}}

<h2>Run</h2>
<table>
{{if .Config.Command}}<tr><th>command</th><td><code>{{.Config.Command}}</code></td></tr>{{end}}
<tr><th>result</th><td><code>{{.Report.JSON}}</code></td></tr>
<tr><th>elapsed</th><td>{{printf "%.1f s" .Totals.ElapsedSec}}</td></tr>
</table>
</body>
</html>
`))

// renderHTML writes the standalone report: no script, no fetched
// asset, every chart an inline SVG.
func renderHTML(w io.Writer, res result) error {
	l := res.Latency
	page := page{
		result:   res,
		Title:    "slipway load: " + res.Scenario,
		Started:  res.StartedAt.Format(time.RFC3339),
		Rate:     loadgen.FormatRate(res.Config.Rate),
		ErrorPct: fmt.Sprintf("%.2f%%", 100*res.Totals.ErrorRate),
		Latencies: []namedValue{
			{"p50", loadgen.FormatMS(l.P50) + " ms"}, {"p90", loadgen.FormatMS(l.P90) + " ms"},
			{"p99", loadgen.FormatMS(l.P99) + " ms"}, {"p99.9", loadgen.FormatMS(l.P999) + " ms"},
			{"max", loadgen.FormatMS(l.Max) + " ms"}, {"mean", loadgen.FormatMS(l.Mean) + " ms"},
		},
		// The SVG is built from numbers and escaped text only (svg).
		Timeline:  template.HTML(timelineSVG(res.Timeline)),      //nolint:gosec // see above
		Traffic:   template.HTML(trafficSVG(res.Timeline)),       //nolint:gosec // see above
		Histogram: template.HTML(histogramSVG(res.Histogram, l)), //nolint:gosec // see above
	}
	if res.Gate != nil {
		page.GatePct = fmt.Sprintf("%.2f%%", 100*res.Gate.MaxErrorRate)
	}
	return reportTemplate.Execute(w, page)
}

// svg builds one chart: a plot area with axes, grid and labels, in
// which callers draw with data coordinates through X and Y.
type svg struct {
	b                     strings.Builder
	id                    string
	w, h                  float64
	left, right, top, bot float64
	x0, x1, y0, y1        float64
	logX                  bool
}

func newSVG(id, title string, height, x0, x1, y0, y1 float64, logX bool) *svg {
	s := &svg{id: id, w: 900, h: height, left: 64, right: 20, top: 28, bot: 44, x0: x0, x1: x1, y0: y0, y1: y1, logX: logX}
	if s.x1 <= s.x0 {
		s.x1 = s.x0 + 1
	}
	if s.y1 <= s.y0 {
		s.y1 = s.y0 + 1
	}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" role="img" viewBox="0 0 %g %g" width="%g" height="%g" font-family="system-ui, sans-serif" font-size="12">`,
		html.EscapeString(id), s.w, s.h, s.w, s.h)
	fmt.Fprintf(&s.b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(&s.b, `<rect x="0" y="0" width="%g" height="%g" fill="#ffffff"/>`, s.w, s.h)
	return s
}

// X and Y map data coordinates to the picture.
func (s *svg) X(v float64) float64 {
	f := (v - s.x0) / (s.x1 - s.x0)
	if s.logX {
		f = (math.Log10(v) - math.Log10(s.x0)) / (math.Log10(s.x1) - math.Log10(s.x0))
	}
	return round(s.left + f*(s.w-s.left-s.right))
}

func (s *svg) Y(v float64) float64 {
	f := (v - s.y0) / (s.y1 - s.y0)
	return round(s.h - s.bot - f*(s.h-s.top-s.bot))
}

func round(v float64) float64 { return math.Round(v*10) / 10 }

// axes draws the grid, the ticks and the axis labels.
func (s *svg) axes(xTicks []float64, xFmt func(float64) string, yTicks []float64, yFmt func(float64) string, xLabel, yLabel string) {
	for _, t := range yTicks {
		y := s.Y(t)
		fmt.Fprintf(&s.b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#e3e7eb"/>`, s.left, y, s.w-s.right, y)
		fmt.Fprintf(&s.b, `<text x="%g" y="%g" text-anchor="end" fill="#59636e">%s</text>`, s.left-6, y+4, html.EscapeString(yFmt(t)))
	}
	for _, t := range xTicks {
		x := s.X(t)
		fmt.Fprintf(&s.b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#b8c0c8"/>`, x, s.h-s.bot, x, s.h-s.bot+5)
		fmt.Fprintf(&s.b, `<text x="%g" y="%g" text-anchor="middle" fill="#59636e">%s</text>`, x, s.h-s.bot+18, html.EscapeString(xFmt(t)))
	}
	fmt.Fprintf(&s.b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#8a949e"/>`, s.left, s.h-s.bot, s.w-s.right, s.h-s.bot)
	fmt.Fprintf(&s.b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#8a949e"/>`, s.left, s.top, s.left, s.h-s.bot)
	fmt.Fprintf(&s.b, `<text x="%g" y="%g" text-anchor="middle" fill="#59636e">%s</text>`, (s.left+s.w-s.right)/2, s.h-6, html.EscapeString(xLabel))
	fmt.Fprintf(&s.b, `<text x="14" y="%g" text-anchor="middle" fill="#59636e" transform="rotate(-90 14 %g)">%s</text>`,
		(s.top+s.h-s.bot)/2, (s.top+s.h-s.bot)/2, html.EscapeString(yLabel))
}

// legend draws coloured keys along the top right.
func (s *svg) legend(items ...[2]string) {
	x := s.w - s.right - float64(90*len(items))
	for _, it := range items {
		fmt.Fprintf(&s.b, `<rect x="%g" y="8" width="14" height="4" fill="%s"/>`, x, it[1])
		fmt.Fprintf(&s.b, `<text x="%g" y="14" fill="#1d232a">%s</text>`, x+20, html.EscapeString(it[0]))
		x += 90
	}
}

func (s *svg) String() string { return s.b.String() + "</svg>" }

// niceTicks returns about n round tick values from 0 to at least hi,
// and the top of the axis.
func niceTicks(hi float64, n int) ([]float64, float64) {
	if hi <= 0 || math.IsNaN(hi) {
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
	top := math.Ceil(hi/step) * step
	var ticks []float64
	for v := 0.0; v <= top+step/2; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return ticks, top
}

func tickLabel(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// timelineSVG charts p50 and p99 per second of the schedule.
func timelineSVG(tl []loadgen.TimelineSecond) string {
	hi := 0.0
	for _, s := range tl {
		hi = max(hi, s.P99)
	}
	yTicks, top := niceTicks(hi, 5)
	xTicks, xTop := niceTicks(float64(len(tl)), 10)
	s := newSVG("latency-over-time", "p50 and p99 latency per second", 320, 0, xTop, 0, top, false)
	s.axes(xTicks, tickLabel, yTicks, tickLabel, "seconds into the run (by intended send time)", "latency (ms)")
	for _, series := range []struct {
		color string
		value func(loadgen.TimelineSecond) float64
	}{
		{"#2f6fde", func(t loadgen.TimelineSecond) float64 { return t.P50 }},
		{"#e8590c", func(t loadgen.TimelineSecond) float64 { return t.P99 }},
	} {
		var d strings.Builder
		pen := "M"
		for _, sec := range tl {
			if sec.Count == 0 {
				pen = "M" // a gap where nothing was due or answered
				continue
			}
			fmt.Fprintf(&d, "%s%g %g ", pen, s.X(float64(sec.Second)+0.5), s.Y(series.value(sec)))
			pen = "L"
		}
		if d.Len() > 0 {
			fmt.Fprintf(&s.b, `<path class="series" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>`,
				strings.TrimSpace(d.String()), series.color)
		}
	}
	s.legend([2]string{"p50", "#2f6fde"}, [2]string{"p99", "#e8590c"})
	return s.String()
}

// trafficSVG charts the requests due in each second, with the errors
// among them.
func trafficSVG(tl []loadgen.TimelineSecond) string {
	hi := 0.0
	for _, s := range tl {
		hi = max(hi, float64(s.Count))
	}
	yTicks, top := niceTicks(hi, 4)
	xTicks, xTop := niceTicks(float64(len(tl)), 10)
	s := newSVG("requests-per-second", "requests and errors per second", 220, 0, xTop, 0, top, false)
	s.axes(xTicks, tickLabel, yTicks, tickLabel, "seconds into the run (by intended send time)", "requests")
	for _, sec := range tl {
		x0, x1 := s.X(float64(sec.Second)+0.1), s.X(float64(sec.Second)+0.9)
		if sec.Count > 0 {
			fmt.Fprintf(&s.b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#9fb3c8"/>`, x0, s.Y(float64(sec.Count)), x1-x0, s.Y(0)-s.Y(float64(sec.Count)))
		}
		if sec.Errors > 0 {
			fmt.Fprintf(&s.b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#d92d20"/>`, x0, s.Y(float64(sec.Errors)), x1-x0, s.Y(0)-s.Y(float64(sec.Errors)))
		}
	}
	s.legend([2]string{"requests", "#9fb3c8"}, [2]string{"errors", "#d92d20"})
	return s.String()
}

// histogramSVG draws the latency histogram on a log axis, with the
// main percentiles marked.
func histogramSVG(bins []loadgen.HistogramBin, l loadgen.Latency) string {
	if len(bins) == 0 {
		s := newSVG("latency-histogram", "latency histogram (no requests)", 320, 0.001, 1, 0, 1, true)
		s.axes(nil, tickLabel, nil, tickLabel, "latency (ms, log scale)", "requests")
		return s.String()
	}
	var hi float64
	for _, b := range bins {
		hi = max(hi, float64(b.Count))
	}
	lo, up := bins[0].From, bins[len(bins)-1].To
	lo = max(lo, 0.001)
	yTicks, top := niceTicks(hi, 5)
	s := newSVG("latency-histogram", "latency histogram", 320, lo, up, 0, top, true)
	s.axes(logTicks(lo, up), tickLabel, yTicks, tickLabel, "latency (ms, log scale)", "requests")
	for _, b := range bins {
		if b.Count == 0 {
			continue
		}
		x0, x1 := s.X(max(b.From, lo)), s.X(b.To)
		fmt.Fprintf(&s.b, `<rect class="bin" x="%g" y="%g" width="%g" height="%g" fill="#2f6fde" fill-opacity="0.75"><title>%s–%s ms: %d</title></rect>`,
			x0, s.Y(float64(b.Count)), max(x1-x0-1, 1), s.Y(0)-s.Y(float64(b.Count)),
			tickLabel(b.From), tickLabel(b.To), b.Count)
	}
	for _, m := range []struct {
		name  string
		value float64
	}{{"p50", l.P50}, {"p99", l.P99}, {"p99.9", l.P999}} {
		if m.value < lo || m.value > up {
			continue
		}
		x := s.X(m.value)
		fmt.Fprintf(&s.b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#e8590c" stroke-dasharray="4 3"/>`, x, s.top, x, s.h-s.bot)
		fmt.Fprintf(&s.b, `<text x="%g" y="%g" fill="#e8590c">%s</text>`, x+3, s.top+12, html.EscapeString(m.name))
	}
	return s.String()
}

// logTicks returns ticks at 1, 2 and 5 times each power of ten in
// [lo, hi], only the powers when the range spans many decades.
func logTicks(lo, hi float64) []float64 {
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
