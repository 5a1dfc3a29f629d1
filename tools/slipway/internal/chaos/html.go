package chaos

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

//go:embed html_report.tmpl
var htmlReportText string

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"percent": func(v float64) float64 { return 100 * v },
	"ms":      func(v float64) string { return loadgen.FormatMS(v) + " ms" },
}).Parse(htmlReportText))

// htmlPage is what the HTML report's template shows.
type htmlPage struct {
	*Report
	Verdict string // PASS, FAIL or SKIP
	Started string
	Elapsed string
	Tiles   []tile
	Empty   string // why there is nothing to chart, when there is not
	Success template.HTML
	Latency template.HTML
	Checks  []verdictRow
}

// tile is one headline figure.
type tile struct {
	Name, Value string
	Bad         bool
}

// verdictRow is one line of the verdict table: an analysis check, a
// fault's evidence or an invariant.
type verdictRow struct {
	Kind, Name, Condition, Observed string
	Passed                          bool
	Details                         []string
}

// renderHTML writes the standalone report: no script, no fetched asset,
// every chart an inline SVG built from numbers and escaped text.
func renderHTML(w io.Writer, r *Report) error {
	p := htmlPage{Report: r, Verdict: passFail(r.Passed)}
	if r.Skipped != "" {
		p.Verdict = "SKIP"
	}
	if !r.StartedAt.IsZero() {
		p.Started = r.StartedAt.Format(time.RFC3339)
		if !r.FinishedAt.IsZero() {
			p.Elapsed = r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
		}
	}
	switch {
	case r.Skipped != "":
		p.Empty = "The experiment was skipped: " + r.Skipped
	case r.Load.Requests == 0 || len(r.PerSecond) == 0:
		p.Empty = "No request completed, so there is nothing to chart."
		if len(r.Failures) > 0 {
			p.Empty += " See the failures above."
		}
	default:
		// Built from numbers and html.EscapeString'd text only (html_chart.go).
		p.Success = template.HTML(successChart(r)) //nolint:gosec // see above
		p.Latency = template.HTML(latencyChart(r)) //nolint:gosec // see above
	}
	p.Tiles = tiles(r)
	p.Checks = verdictRows(r)
	return htmlReport.Execute(w, p)
}

// tiles are the run's headline figures.
func tiles(r *Report) []tile {
	if r.Load.Requests == 0 {
		return nil
	}
	l := r.Load
	ts := []tile{
		{Name: "requests", Value: fmt.Sprint(l.Requests)},
		{Name: "success rate", Value: fmt.Sprintf("%.2f%%", 100*l.SuccessRate), Bad: l.SuccessRate < r.Thresholds.SuccessRate},
		{Name: "p50", Value: loadgen.FormatMS(l.P50) + " ms"},
		{Name: "p99", Value: loadgen.FormatMS(l.P99) + " ms"},
		{Name: "max", Value: loadgen.FormatMS(l.Max) + " ms"},
	}
	if p99, ok := durationMS(r.Thresholds.P99); ok {
		ts[3].Bad = l.P99 > p99
	}
	if fw := r.FaultWindow; fw != nil && fw.Requests > 0 {
		ts = append(ts, tile{Name: "success, fault window", Value: fmt.Sprintf("%.2f%%", 100*fw.SuccessRate)},
			tile{Name: "p99, fault window", Value: loadgen.FormatMS(fw.P99) + " ms"})
	}
	if r.Thresholds.Outage != "" {
		ts = append(ts, tile{Name: "PostgreSQL outage", Value: r.Thresholds.Outage})
	}
	return ts
}

// verdictRows are the analysis, the faults' evidence and the invariants,
// in the order the verdict weighs them.
func verdictRows(r *Report) []verdictRow {
	var rows []verdictRow
	for _, c := range r.Analysis {
		rows = append(rows, verdictRow{Kind: "analysis", Name: c.Metric, Condition: c.Condition, Observed: c.Observed, Passed: c.Passed})
	}
	for _, e := range r.Effects {
		rows = append(rows, verdictRow{Kind: "fault effect", Name: e.Fault, Condition: e.Evidence, Observed: e.Observed, Passed: e.Seen})
	}
	for _, inv := range r.Invariants {
		row := verdictRow{Kind: "invariant", Name: inv.Name, Condition: "no violation",
			Observed: fmt.Sprintf("%d checked, %d violation(s)", inv.Checked, inv.Violations), Passed: inv.Passed, Details: inv.Examples}
		if inv.Note != "" {
			row.Details = append(row.Details, "note: "+inv.Note)
		}
		rows = append(rows, row)
	}
	return rows
}
