package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/svgchart"
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

// The charts' colours, as `slipway chaos` draws its own.
const (
	colorP50      = "#2f6fde"
	colorP99      = "#e8590c"
	colorRequests = "#9fb3c8"
	colorErrors   = "#d92d20"
)

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

// layout is the charts' geometry, in SVG user units.
func layout(height float64, logX bool) svgchart.Layout {
	return svgchart.Layout{Width: 900, Height: height, Left: 64, Right: 20, Top: 28, Bottom: 44, LegendTop: 8, LegendStep: 90, LogX: logX}
}

const xAxisLabel = "seconds into the run (by intended send time)"

// timelineSVG charts p50 and p99 per second of the schedule.
func timelineSVG(tl []loadgen.TimelineSecond) string {
	hi := 0.0
	for _, s := range tl {
		hi = max(hi, s.P99)
	}
	yTicks, top := svgchart.Ticks(hi, 5)
	xTicks, xTop := svgchart.Ticks(float64(len(tl)), 10)
	s := svgchart.New("latency-over-time", "p50 and p99 latency per second", layout(320, false), 0, xTop, 0, top)
	s.Axes(xTicks, svgchart.TickLabel, yTicks, svgchart.TickLabel, xAxisLabel, "latency (ms)")
	s.Line("series", colorP50, perSecond(tl, func(t loadgen.TimelineSecond) float64 { return t.P50 }))
	s.Line("series", colorP99, perSecond(tl, func(t loadgen.TimelineSecond) float64 { return t.P99 }))
	s.Legend(svgchart.Key{Label: "p50", Color: colorP50}, svgchart.Key{Label: "p99", Color: colorP99})
	return s.String()
}

// perSecond is one point per second of the timeline, in its middle; a
// gap where nothing was due or answered.
func perSecond(tl []loadgen.TimelineSecond, value func(loadgen.TimelineSecond) float64) []svgchart.Point {
	pts := make([]svgchart.Point, len(tl))
	for i, sec := range tl {
		pts[i] = svgchart.Point{X: float64(sec.Second) + 0.5, Y: math.NaN()}
		if sec.Count > 0 {
			pts[i].Y = value(sec)
		}
	}
	return pts
}

// trafficSVG charts the requests due in each second, with the errors
// among them.
func trafficSVG(tl []loadgen.TimelineSecond) string {
	hi := 0.0
	for _, s := range tl {
		hi = max(hi, float64(s.Count))
	}
	yTicks, top := svgchart.Ticks(hi, 4)
	xTicks, xTop := svgchart.Ticks(float64(len(tl)), 10)
	s := svgchart.New("requests-per-second", "requests and errors per second", layout(220, false), 0, xTop, 0, top)
	s.Axes(xTicks, svgchart.TickLabel, yTicks, svgchart.TickLabel, xAxisLabel, "requests")
	for _, sec := range tl {
		x0, x1 := s.X(float64(sec.Second)+0.1), s.X(float64(sec.Second)+0.9)
		if sec.Count > 0 {
			s.Printf(`<rect x="%g" y="%g" width="%g" height="%g" fill="%s"/>`, x0, s.Y(float64(sec.Count)), x1-x0, s.Y(0)-s.Y(float64(sec.Count)), colorRequests)
		}
		if sec.Errors > 0 {
			s.Printf(`<rect x="%g" y="%g" width="%g" height="%g" fill="%s"/>`, x0, s.Y(float64(sec.Errors)), x1-x0, s.Y(0)-s.Y(float64(sec.Errors)), colorErrors)
		}
	}
	s.Legend(svgchart.Key{Label: "requests", Color: colorRequests}, svgchart.Key{Label: "errors", Color: colorErrors})
	return s.String()
}

// histogramSVG draws the latency histogram on a log axis, with the
// main percentiles marked.
func histogramSVG(bins []loadgen.HistogramBin, l loadgen.Latency) string {
	if len(bins) == 0 {
		s := svgchart.New("latency-histogram", "latency histogram (no requests)", layout(320, true), 0.001, 1, 0, 1)
		s.Axes(nil, svgchart.TickLabel, nil, svgchart.TickLabel, "latency (ms, log scale)", "requests")
		return s.String()
	}
	var hi float64
	for _, b := range bins {
		hi = max(hi, float64(b.Count))
	}
	lo, up := bins[0].From, bins[len(bins)-1].To
	lo = max(lo, 0.001)
	yTicks, top := svgchart.Ticks(hi, 5)
	s := svgchart.New("latency-histogram", "latency histogram", layout(320, true), lo, up, 0, top)
	s.Axes(svgchart.LogTicks(lo, up), svgchart.TickLabel, yTicks, svgchart.TickLabel, "latency (ms, log scale)", "requests")
	for _, b := range bins {
		if b.Count == 0 {
			continue
		}
		x0, x1 := s.X(max(b.From, lo)), s.X(b.To)
		s.Printf(`<rect class="bin" x="%g" y="%g" width="%g" height="%g" fill="%s" fill-opacity="0.75"><title>%s–%s ms: %d</title></rect>`,
			x0, s.Y(float64(b.Count)), max(x1-x0-1, 1), s.Y(0)-s.Y(float64(b.Count)), colorP50,
			svgchart.TickLabel(b.From), svgchart.TickLabel(b.To), b.Count)
	}
	for _, m := range []struct {
		name  string
		value float64
	}{{"p50", l.P50}, {"p99", l.P99}, {"p99.9", l.P999}} {
		if m.value < lo || m.value > up {
			continue
		}
		x := s.X(m.value)
		s.Printf(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-dasharray="4 3"/>`, x, s.PlotTop(), x, s.PlotBottom(), colorP99)
		s.Printf(`<text x="%g" y="%g" fill="%s">%s</text>`, x+3, s.PlotTop()+12, colorP99, html.EscapeString(m.name))
	}
	return s.String()
}
