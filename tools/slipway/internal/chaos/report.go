package chaos

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
)

// thresholds are the gate of one experiment.
type thresholds struct {
	SuccessRate float64        // at least
	P99         time.Duration  // at most, over the whole run
	FaultP99    *time.Duration // at most, in the fault window; nil: reported only
	// OverOutage, when set, makes P99 the measured outage plus this
	// (record sets it once the outage is known); Outage is that outage.
	OverOutage *time.Duration
	Outage     time.Duration
	// FaultSuccessRate is the least success rate in the fault window; nil
	// is SuccessRate.
	FaultSuccessRate *float64
	// PlacedRate is the least share of acknowledged orders PLACED after
	// settling; nil is SuccessRate.
	PlacedRate *float64
	// Services is the least success rate of each gated service's RPCs; a
	// service missing is the SLO's success rate.
	Services map[string]float64
	Source   string // where they came from, for the report
}

// placed is the least share of acknowledged orders that must end PLACED.
func (t thresholds) placed() float64 {
	if t.PlacedRate != nil {
		return *t.PlacedRate
	}
	return t.SuccessRate
}

// sloDefaults reads the default gate from deploy/slo.yaml: a success
// rate of 1 - the error_rate objective, and the p99_latency objective.
func sloDefaults(spec slo.File) (thresholds, error) {
	t := thresholds{Source: spec.Path}
	var haveRate, haveP99 bool
	for _, o := range spec.Objectives {
		if len(o.Services) > 0 {
			continue // a per-service objective is not the whole system's
		}
		switch o.Metric {
		case slo.MetricErrors:
			t.SuccessRate, haveRate = 1-o.Threshold, true
		case slo.MetricP99:
			t.P99, haveP99 = time.Duration(math.Round(o.Threshold*float64(time.Second))), true
		}
	}
	if !haveRate || !haveP99 {
		return t, fmt.Errorf("%s: chaos takes its default gate from the %s and %s objectives, and one is missing", spec.Path, slo.MetricErrors, slo.MetricP99)
	}
	// 1 - 0.005 in floating point is 0.995000000000000039...: round to the
	// precision a threshold is written in.
	t.SuccessRate = math.Round(t.SuccessRate*1e9) / 1e9
	return t, nil
}

// thresholds applies the experiment's analysis overrides to the defaults.
func (e *experiment) thresholds(def thresholds) thresholds {
	t := def
	t.Services = map[string]float64{}
	for _, svc := range gatedServices {
		t.Services[svc] = def.SuccessRate
	}
	overridden := false
	if r := e.Analysis.SuccessRate; r != nil {
		t.SuccessRate, overridden = *r, true
	}
	if p := e.Analysis.P99; p != nil {
		t.P99, overridden = p.D(), true
	}
	if p := e.Analysis.P99OverOutage; p != nil {
		d := p.D()
		t.OverOutage, overridden = &d, true
	}
	if r := e.Analysis.FaultSuccessRate; r != nil {
		v := *r
		t.FaultSuccessRate, overridden = &v, true
	}
	if p := e.Analysis.FaultP99; p != nil {
		d := p.D()
		t.FaultP99, overridden = &d, true
	}
	if r := e.Analysis.PlacedRate; r != nil {
		v := *r
		t.PlacedRate, overridden = &v, true
	}
	for svc, r := range e.Analysis.ServiceSuccessRate {
		t.Services[svc], overridden = r, true
	}
	if overridden {
		t.Source = e.File + " (analysis), else " + def.Source
	}
	return t
}

// check is one line of the analysis: a metric, its condition and what
// was observed.
type check struct {
	Metric    string `json:"metric"`
	Condition string `json:"condition"`
	Observed  string `json:"observed"`
	Passed    bool   `json:"passed"`
}

// loadFigures are the whole run's figures.
type loadFigures struct {
	Request     string               `json:"request,omitempty"` // what one request is, e.g. "GetMe, then CreateOrder"
	Rate        float64              `json:"rate"`
	DurationSec float64              `json:"duration_s"`
	Planned     int                  `json:"planned"`
	Requests    int64                `json:"requests"` // completed
	OK          int64                `json:"ok"`
	Errors      int64                `json:"errors"`
	SuccessRate float64              `json:"success_rate"`
	P50         float64              `json:"p50_ms"`
	P99         float64              `json:"p99_ms"`
	Max         float64              `json:"max_ms"`
	Codes       []loadgen.ErrorCount `json:"error_codes,omitempty"`
}

// analyse evaluates the gate, as an Argo Rollouts AnalysisRun evaluates its
// metrics' success conditions: every check must pass.
func analyse(t thresholds, all loadFigures, window *windowFigures) []check {
	pct := func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }
	var checks []check
	c := check{Metric: "success rate", Condition: ">= " + pct(t.SuccessRate)}
	if all.Requests == 0 {
		c.Observed = "no request completed"
	} else {
		c.Observed = fmt.Sprintf("%s (%d of %d)", pct(all.SuccessRate), all.OK, all.Requests)
		c.Passed = all.SuccessRate >= t.SuccessRate
	}
	checks = append(checks, c)
	if window != nil {
		// A short fault in a long run must not hide its errors in the
		// requests around it: the window is gated on its own too.
		least := t.SuccessRate
		if t.FaultSuccessRate != nil {
			least = *t.FaultSuccessRate
		}
		c = check{Metric: "success rate in the fault window", Condition: ">= " + pct(least)}
		if window.Requests == 0 {
			c.Observed = "no request in the fault window"
		} else {
			c.Observed = fmt.Sprintf("%s (%d of %d)", pct(window.SuccessRate), window.Requests-window.Errors, window.Requests)
			c.Passed = window.SuccessRate >= least
		}
		checks = append(checks, c)
	}
	c = check{Metric: "p99 latency", Condition: "<= " + t.P99.String()}
	if t.OverOutage != nil {
		c.Condition = fmt.Sprintf("<= %s (outage %s + %s)", t.P99, report.Seconds(t.Outage), t.OverOutage)
	}
	if all.Requests == 0 {
		c.Observed = "no request completed"
	} else {
		c.Observed = loadgen.FormatMS(all.P99) + "ms"
		c.Passed = all.P99 <= float64(t.P99)/float64(time.Millisecond)
	}
	checks = append(checks, c)
	if t.FaultP99 != nil {
		c = check{Metric: "p99 latency in the fault window", Condition: "<= " + t.FaultP99.String()}
		switch {
		case window == nil || window.Requests == 0:
			c.Observed = "no request in the fault window"
		default:
			c.Observed = loadgen.FormatMS(window.P99) + "ms"
			c.Passed = window.P99 <= float64(*t.FaultP99)/float64(time.Millisecond)
		}
		checks = append(checks, c)
	}
	return checks
}

// Report is everything one experiment run found, as written to JSON.
type Report struct {
	Experiment  string              `json:"experiment"`
	File        string              `json:"file"`
	Description string              `json:"description,omitempty"`
	Command     string              `json:"command,omitempty"`
	Scale       float64             `json:"scale"`
	StartedAt   time.Time           `json:"started_at"`
	FinishedAt  time.Time           `json:"finished_at"`
	Database    string              `json:"database"`
	Broker      string              `json:"broker"`
	Redis       bool                `json:"redis"`
	Env         map[string][]string `json:"env,omitempty"`
	Faults      []string            `json:"faults"`
	Timeline    []event             `json:"timeline"`
	Load        loadFigures         `json:"load"`
	FaultWindow *windowFigures      `json:"fault_window,omitempty"`
	// PerSecond is the load second by second of intended send time, and
	// Outages the PostgreSQL outages a restart caused: the HTML report's
	// charts.
	PerSecond  []loadgen.TimelineSecond `json:"per_second,omitempty"`
	Outages    []span                   `json:"postgres_outages,omitempty"`
	Services   []serviceFigures         `json:"services,omitempty"` // the gated services' own RPCs, from their /metrics
	Thresholds struct {
		SuccessRate float64            `json:"success_rate"`
		P99         string             `json:"p99"`
		FaultP99    string             `json:"fault_window_p99,omitempty"`
		OverOutage  string             `json:"p99_over_outage,omitempty"`
		Outage      string             `json:"outage,omitempty"`
		FaultRate   *float64           `json:"fault_window_success_rate,omitempty"`
		PlacedRate  float64            `json:"placed_rate"`
		Services    map[string]float64 `json:"service_success_rate,omitempty"`
		Source      string             `json:"source"`
		Reason      string             `json:"reason,omitempty"`
	} `json:"thresholds"`
	Analysis   []check     `json:"analysis"`
	Effects    []effect    `json:"fault_effects"`
	Settled    string      `json:"settled"`
	Invariants []invariant `json:"invariants"`
	Failures   []string    `json:"failures,omitempty"`
	Passed     bool        `json:"passed"`
	Skipped    string      `json:"skipped,omitempty"` // why it did not run`
	Files      struct {
		JSON        string `json:"json"`
		Markdown    string `json:"markdown"`
		HTML        string `json:"html"`
		ServicesLog string `json:"services_log"`
	} `json:"files"`
}

// verdict collects every failure: analysis checks, invariants and errors.
func (r *Report) verdict() {
	for _, c := range r.Analysis {
		if !c.Passed {
			r.Failures = append(r.Failures, fmt.Sprintf("analysis: %s %s, observed %s", c.Metric, c.Condition, c.Observed))
		}
	}
	for _, e := range r.Effects {
		if !e.Seen {
			r.Failures = append(r.Failures, fmt.Sprintf("fault effect: %s: no evidence that it did anything: wanted %s, observed %s", e.Fault, e.Evidence, e.Observed))
		}
	}
	for _, inv := range r.Invariants {
		if !inv.Passed {
			msg := fmt.Sprintf("invariant %q: %d violation(s)", inv.Name, inv.Violations)
			if len(inv.Examples) > 0 {
				msg += ", e.g. " + inv.Examples[0]
			}
			r.Failures = append(r.Failures, msg)
		}
	}
	r.Passed = len(r.Failures) == 0
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// printReport writes the human summary.
func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\nexperiment %s (%s)", r.Experiment, r.File)
	if r.Scale != 1 {
		fmt.Fprintf(w, " at --scale %g", r.Scale)
	}
	fmt.Fprintf(w, "\n  on %s, %s", r.Database, r.Broker)
	if r.Redis {
		fmt.Fprint(w, ", Redis")
	}
	fmt.Fprintln(w)
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  fault: %s\n", f)
	}
	l := r.Load
	fmt.Fprintf(w, "  load: %s at %g/s for %.1fs: %d requests, %d ok, %d errors; p50 %sms, p99 %sms, max %sms\n",
		cmp.Or(l.Request, "CreateOrder"), l.Rate, l.DurationSec, l.Requests, l.OK, l.Errors, loadgen.FormatMS(l.P50), loadgen.FormatMS(l.P99), loadgen.FormatMS(l.Max))
	if fw := r.FaultWindow; fw != nil {
		fmt.Fprintf(w, "  fault window %.1fs-%.1fs: %d requests, %d errors, success %.2f%%, p99 %sms\n",
			fw.FromSec, fw.ToSec, fw.Requests, fw.Errors, 100*fw.SuccessRate, loadgen.FormatMS(fw.P99))
	}
	if len(l.Codes) > 0 {
		var parts []string
		for _, c := range l.Codes {
			parts = append(parts, fmt.Sprintf("%s %d", c.Code, c.Count))
		}
		fmt.Fprintf(w, "  error codes: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tCONDITION\tOBSERVED\tRESULT")
	for _, c := range r.Analysis {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Metric, c.Condition, c.Observed, passFail(c.Passed))
	}
	for _, inv := range r.Invariants {
		obs := fmt.Sprintf("%d checked, %d violation(s)", inv.Checked, inv.Violations)
		fmt.Fprintf(tw, "%s\tinvariant\t%s\t%s\n", inv.Name, obs, passFail(inv.Passed))
	}
	_ = tw.Flush()
	for _, e := range r.Effects {
		fmt.Fprintf(w, "  fault effect (%s): %s: %s: %s\n", e.Fault, e.Evidence, e.Observed, passFail(e.Seen))
	}
	for _, inv := range r.Invariants {
		for _, ex := range inv.Examples {
			fmt.Fprintf(w, "  %s: %s\n", inv.Name, ex)
		}
		if inv.Note != "" {
			fmt.Fprintf(w, "  note (%s): %s\n", inv.Name, inv.Note)
		}
	}
	if r.Thresholds.Reason != "" {
		fmt.Fprintf(w, "  thresholds set by the experiment: %s\n", r.Thresholds.Reason)
	}
	if r.Passed {
		fmt.Fprintf(w, "\n%s: PASS\n", r.Experiment)
	} else {
		fmt.Fprintf(w, "\n%s: FAIL\n", r.Experiment)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  - %s\n", f)
		}
	}
	fmt.Fprintf(w, "report %s\n       %s\n       %s\n", r.Files.HTML, r.Files.JSON, r.Files.Markdown)
}

// markdown renders the report for a pull request or a wiki.
func markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Chaos experiment `%s`: %s\n\n", r.Experiment, passFail(r.Passed))
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Description)
	}
	fmt.Fprintf(&b, "* file: `%s`, scale %g\n", r.File, r.Scale)
	fmt.Fprintf(&b, "* run: %s to %s, on %s, %s", r.StartedAt.Format(time.RFC3339), r.FinishedAt.Format(time.RFC3339), r.Database, r.Broker)
	if r.Redis {
		b.WriteString(", Redis")
	}
	b.WriteString("\n")
	if r.Command != "" {
		fmt.Fprintf(&b, "* command: `%s`\n", r.Command)
	}
	for svc, kvs := range r.Env {
		fmt.Fprintf(&b, "* env of %s: `%s`\n", svc, strings.Join(kvs, " "))
	}
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "* fault: %s\n", f)
	}
	l := r.Load
	if l.Request != "" {
		fmt.Fprintf(&b, "* request: %s\n", l.Request)
	}
	b.WriteString("\n## Load\n\n| | requests | errors | success | p50 | p99 | max |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| whole run (%g/s, %.1fs) | %d | %d | %.2f%% | %s ms | %s ms | %s ms |\n",
		l.Rate, l.DurationSec, l.Requests, l.Errors, 100*l.SuccessRate, loadgen.FormatMS(l.P50), loadgen.FormatMS(l.P99), loadgen.FormatMS(l.Max))
	if fw := r.FaultWindow; fw != nil {
		fmt.Fprintf(&b, "| fault window (%.1fs-%.1fs) | %d | %d | %.2f%% | | %s ms | |\n",
			fw.FromSec, fw.ToSec, fw.Requests, fw.Errors, 100*fw.SuccessRate, loadgen.FormatMS(fw.P99))
	}
	if len(l.Codes) > 0 {
		b.WriteString("\n| error code | count | first message |\n|---|---|---|\n")
		for _, c := range l.Codes {
			fmt.Fprintf(&b, "| %s | %d | %s |\n", c.Code, c.Count, strings.ReplaceAll(loadgen.OneLine(c.Example, 120), "|", `\|`))
		}
	}
	b.WriteString("\n## Analysis\n\n| check | condition | observed | result |\n|---|---|---|---|\n")
	for _, c := range r.Analysis {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Metric, c.Condition, c.Observed, passFail(c.Passed))
	}
	if len(r.Effects) > 0 {
		b.WriteString("\n## Fault effects\n\nEvidence that each fault did something.\n\n| fault | evidence | observed | result |\n|---|---|---|---|\n")
		for _, e := range r.Effects {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", e.Fault, e.Evidence, e.Observed, passFail(e.Seen))
		}
	}
	fmt.Fprintf(&b, "\nThresholds from %s.", r.Thresholds.Source)
	if r.Thresholds.Reason != "" {
		fmt.Fprintf(&b, " Reason: %s", r.Thresholds.Reason)
	}
	b.WriteString("\n\n## Invariants\n\n")
	fmt.Fprintf(&b, "Checked in the databases after the consumers caught up (%s).\n\n", r.Settled)
	b.WriteString("| invariant | checked | violations | result |\n|---|---|---|---|\n")
	for _, inv := range r.Invariants {
		fmt.Fprintf(&b, "| %s | %d | %d | %s |\n", inv.Name, inv.Checked, inv.Violations, passFail(inv.Passed))
	}
	for _, inv := range r.Invariants {
		for _, ex := range inv.Examples {
			fmt.Fprintf(&b, "\n* %s: %s", inv.Name, ex)
		}
		if inv.Note != "" {
			fmt.Fprintf(&b, "\n* note (%s): %s", inv.Name, inv.Note)
		}
	}
	b.WriteString("\n\n## Timeline\n\n")
	for _, e := range r.Timeline {
		fmt.Fprintf(&b, "* t+%.1fs %s\n", e.AtSec, e.What)
	}
	if len(r.Failures) > 0 {
		b.WriteString("\n## Failures\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "* %s\n", f)
		}
	}
	return b.String()
}

// writeFiles writes the JSON, Markdown and HTML reports.
func writeFiles(r *Report) error {
	if err := os.MkdirAll(filepath.Dir(r.Files.JSON), 0o750); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.Files.JSON, append(b, '\n'), 0o644); err != nil { //nolint:gosec // G306: a report, not a secret
		return err
	}
	if err := os.WriteFile(r.Files.Markdown, []byte(markdown(r)), 0o644); err != nil { //nolint:gosec // G306: as above
		return err
	}
	var page bytes.Buffer
	if err := renderHTML(&page, r); err != nil {
		return fmt.Errorf("render the HTML report: %w", err)
	}
	return os.WriteFile(r.Files.HTML, page.Bytes(), 0o644) //nolint:gosec // G306: as above
}

// newReport is the report of exp before it runs: what it does, where its
// files go and the thresholds it is judged by.
func newReport(o Options, exp *experiment, th thresholds) *Report {
	stamp := time.Now().UTC().Format("20060102T150405.000Z")
	stamp = strings.ReplaceAll(stamp, ".", "")
	base := filepath.Join(o.Out, exp.Name+"-"+stamp)
	rep := &Report{
		Experiment: exp.Name, File: exp.File, Description: strings.TrimSpace(exp.Description),
		Command: o.Command, Scale: o.Scale, StartedAt: time.Now().UTC(), Database: "SQLite", Broker: "embedded JetStream",
		Redis: o.RedisURL != "",
	}
	rep.Files.JSON, rep.Files.Markdown, rep.Files.HTML = base+".json", base+".md", base+".html"
	rep.Files.ServicesLog = filepath.Join(base, "services.log")
	if o.DatabaseURL != "" {
		rep.Database = "PostgreSQL"
	}
	if o.NATSURL != "" {
		rep.Broker = "NATS at " + report.RedactURL(o.NATSURL)
	}
	for _, svc := range slices.Sorted(maps.Keys(exp.Env)) {
		for _, k := range slices.Sorted(maps.Keys(exp.Env[svc])) {
			if rep.Env == nil {
				rep.Env = map[string][]string{}
			}
			rep.Env[svc] = append(rep.Env[svc], k+"="+exp.Env[svc][k])
		}
	}
	for _, f := range exp.Faults {
		rep.Faults = append(rep.Faults, exp.when(f)+": "+f.Describe())
	}
	for _, f := range exp.envFaults() {
		rep.Faults = append(rep.Faults, "for the whole run (env): "+f)
	}
	rep.Thresholds.PlacedRate, rep.Thresholds.Services = th.placed(), th.Services
	rep.Thresholds.SuccessRate, rep.Thresholds.P99, rep.Thresholds.Source = th.SuccessRate, th.P99.String(), th.Source
	rep.Thresholds.FaultRate = th.FaultSuccessRate
	if th.FaultP99 != nil {
		rep.Thresholds.FaultP99 = th.FaultP99.String()
	}
	if th.OverOutage != nil {
		rep.Thresholds.OverOutage = th.OverOutage.String()
	}
	rep.Thresholds.Reason = exp.Analysis.Reason
	return rep
}

// record adds the load's figures, the effects of its faults and the
// analysis against th to rep.
func (r *run) record(rep *Report, figures loadFigures, th thresholds) {
	for _, m := range r.latency {
		r.effects = append(r.effects, latencyEffect(m, r.samples, r.fleet.proxies[m.Fault.Network.Dependency].Stats().Delayed))
	}
	rep.Effects = r.effects
	rep.Load = figures
	rep.PerSecond = perSecond(r.samples, r.exp.Load.Duration.D())
	r.mu.Lock()
	rep.Outages = outages(r.events)
	r.mu.Unlock()
	if r.window[0] > 0 || r.window[1] > 0 {
		to := r.window[1]
		if to == 0 || slices.ContainsFunc(r.exp.Faults, func(f fault) bool { return f.ConsumerReset != nil }) {
			to = max(to, r.exp.Load.Duration.D())
		}
		w := windowStats(r.samples, r.window[0], to)
		rep.FaultWindow = &w
	}
	if th.OverOutage != nil {
		r.mu.Lock()
		th.Outage = r.outage
		r.mu.Unlock()
		th.P99 = th.Outage.Round(time.Millisecond) + *th.OverOutage
		rep.Thresholds.P99, rep.Thresholds.Outage = th.P99.String(), th.Outage.Round(time.Millisecond).String()
	}
	rep.Analysis = analyse(th, rep.Load, rep.FaultWindow)
}
