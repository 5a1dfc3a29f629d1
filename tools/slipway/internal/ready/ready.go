// Package ready is slipway ready: the SLO baseline gate, which measures
// every objective of deploy/slo.yaml over a window and fails naming each
// check that does not hold.
package ready

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clienttls"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Options are the inputs of Run.
type Options struct {
	SLOPath    string              // the thresholds, deploy/slo.yaml
	Window     time.Duration       // what the figures are measured over
	Targets    []promscrape.Target // scrape mode: whose /metrics to read
	Prometheus string              // Prometheus mode: base URL of its HTTP API
	Timeout    time.Duration       // per scrape or query
	TLS        *tls.Config         // scrape mode: calls over https with this; nil is plaintext
	JSON       bool
	Stdout     io.Writer
	Progress   io.Writer // where the wait for the window is reported; nil: nowhere
	Live       bool      // Progress is a terminal: redraw one line every second

	// Tests inject the clock: now stamps each scrape and Prometheus query, and
	// wait spends the window between the two scrapes.
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error
}

// Report is what Run reports; it is also the --json document.
type Report struct {
	SLO             string              `json:"slo"`
	SLOVersion      int                 `json:"slo_version"`
	Source          string              `json:"source"` // "scrape" or "prometheus"
	Prometheus      string              `json:"prometheus,omitempty"`
	Targets         []promscrape.Target `json:"targets,omitempty"`
	Window          string              `json:"window"`
	MeasuredSeconds float64             `json:"measured_seconds,omitempty"` // scrape mode: time between the two scrapes
	Pass            bool                `json:"pass"`
	Failed          []string            `json:"failed,omitempty"` // metric/service of every FAIL
	Checks          []slo.Check         `json:"checks"`
	Warnings        []string            `json:"warnings,omitempty"`
}

// Main parses the flags of slipway ready and runs it.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "ready", "[--window 30s] [--targets svc=host:port,...] [--prometheus URL] [--slo file] [--json]",
		"The SLO baseline gate: checks the thresholds of deploy/slo.yaml (CPU, p99 latency, idle\n"+
			"database connections, error rate, outbox age) for every service over a window, prints\n"+
			"METRIC | SERVICE | THRESHOLD | OBSERVED | RESULT and exits 1 naming every metric that fails.\n\n"+
			"By default it scrapes each service's /metrics at the start and at the end of the window and\n"+
			"computes the figures from the two samples as PromQL's increase() and histogram_quantile()\n"+
			"would. With --prometheus it asks Prometheus instead, with PromQL over [window]; the error\n"+
			"rate is 1 - deploy/promql/success_rate.promql, the query the Argo Rollouts analysis uses.")
	opts := Options{Stdout: env.Stdout, Progress: env.Stderr, Live: isTerminal(env.Stderr)}
	targets := ""
	fs.StringVar(&opts.SLOPath, "slo", "", "thresholds `file` (default deploy/slo.yaml of the workspace)")
	fs.DurationVar(&opts.Window, "window", 30*time.Second, "measure over this `duration`")
	fs.StringVar(&targets, "targets", promscrape.DefaultTargets(), "scrape mode: comma-separated `svc=host:port` (or svc=URL) of each service's /metrics")
	fs.StringVar(&opts.Prometheus, "prometheus", "", "ask the Prometheus at this `URL` instead of scraping")
	fs.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "give up on one scrape or query after this `duration`")
	fs.BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	var tlsFlags clienttls.Flags
	tlsFlags.Register(fs, env.Getenv)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if opts.TLS, err = tlsFlags.Config(func() (string, error) { return workspace.Resolve("", "") }); err != nil {
		return err
	}
	targetsSet := false
	fs.Visit(func(f *flag.Flag) { targetsSet = targetsSet || f.Name == "targets" })
	if targetsSet && opts.Prometheus != "" {
		return cli.UsageErrorf("--targets and --prometheus exclude each other: scrape the services or ask Prometheus")
	}
	if opts.Prometheus == "" {
		if opts.Targets, err = promscrape.ParseTargets(targets); err != nil {
			return cli.UsageError{Err: err}
		}
		if opts.TLS != nil {
			opts.Targets = promscrape.HTTPSTargets(opts.Targets)
		}
	}
	if opts.SLOPath == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		root, err := workspace.FindRoot(wd)
		if err != nil {
			return cli.UsageErrorf("no --slo given and %v", err)
		}
		opts.SLOPath = filepath.Join(root, "deploy", "slo.yaml")
	}
	return Run(ctx, opts)
}

func (o Options) validate() error {
	switch {
	case o.Window < time.Second:
		return fmt.Errorf("--window %s: want at least 1s", o.Window)
	case o.Window%time.Millisecond != 0:
		return fmt.Errorf("--window %s: want whole milliseconds", o.Window)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	case o.Prometheus == "" && len(o.Targets) == 0:
		return fmt.Errorf("nothing to measure: give --targets or --prometheus")
	}
	if o.Prometheus != "" {
		u, err := url.Parse(o.Prometheus)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--prometheus %q: want an http(s) URL such as http://127.0.0.1:9090", o.Prometheus)
		}
	}
	return nil
}

// promscrape.Options are the parts of opts the measurement needs.
func (o Options) measureOptions() promscrape.Options {
	return promscrape.Options{Window: o.Window, Timeout: o.Timeout, Targets: o.Targets, Prometheus: o.Prometheus,
		TLS: o.TLS, Now: o.now, Wait: o.wait}
}

// Run measures every objective of the SLO file, prints the report and
// returns an error naming each failed check, or nil when all pass.
func Run(ctx context.Context, opts Options) error {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.wait == nil {
		opts.wait = func(ctx context.Context, d time.Duration) error {
			return waitWindow(ctx, d, opts.Progress, opts.Live)
		}
	}
	if err := opts.validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	spec, err := slo.Load(opts.SLOPath)
	if err != nil {
		return err
	}

	report := Report{SLO: opts.SLOPath, SLOVersion: spec.Version, Window: opts.Window.String()}
	var m slo.Measurement
	if opts.Prometheus != "" {
		report.Source, report.Prometheus = "prometheus", opts.Prometheus
		m, err = promscrape.MeasurePrometheus(ctx, opts.measureOptions(), spec)
	} else {
		report.Source, report.Targets = "scrape", opts.Targets
		m, err = promscrape.Measure(ctx, opts.measureOptions())
		report.MeasuredSeconds = math.Round(m.Measured.Seconds()*1000) / 1000
	}
	if err != nil {
		return err
	}
	report.Warnings = m.Warnings
	report.Checks = slo.Evaluate(spec, m)
	report.Pass = true
	var failed []string
	for _, c := range report.Checks {
		if c.Result != slo.Pass {
			report.Pass = false
			report.Failed = append(report.Failed, c.Metric+"/"+c.Service)
			failed = append(failed, fmt.Sprintf("%s (%s: %s)", c.Metric, c.Service, failureDetail(c)))
		}
	}

	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		printReport(opts.Stdout, report)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(report.Checks), strings.Join(failed, ", "))
	}
	return nil
}

func failureDetail(c slo.Check) string {
	if c.Observed == nil {
		return c.Note
	}
	return fmt.Sprintf("%s, want %s", formatFigure(c.Unit, *c.Observed), formatThreshold(c))
}

func printReport(w io.Writer, r Report) {
	source := fmt.Sprintf("scraped %d target(s) %s apart", len(r.Targets), report.Seconds(time.Duration(r.MeasuredSeconds*float64(time.Second))))
	if r.Source == "prometheus" {
		source = fmt.Sprintf("Prometheus %s over [%s]", r.Prometheus, r.Window)
	}
	fmt.Fprintf(w, "SLO %s (version %d), %s\n\n", r.SLO, r.SLOVersion, source)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tSERVICE\tTHRESHOLD\tOBSERVED\tRESULT\tNOTE")
	for _, c := range r.Checks {
		observed := "-"
		if c.Observed != nil {
			observed = formatFigure(c.Unit, *c.Observed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Metric, c.Service, formatThreshold(c), observed, c.Result, c.Note)
	}
	_ = tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n")) // an empty NOTE leaves padding behind
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	if r.Pass {
		fmt.Fprintf(w, "\nready: all %d checks PASS\n", len(r.Checks))
	} else {
		fmt.Fprintf(w, "\nready: %d of %d checks FAIL: %s\n", len(r.Failed), len(r.Checks), strings.Join(r.Failed, ", "))
	}
}

func formatThreshold(c slo.Check) string {
	if c.Unit == slo.UnitRatio {
		// Rounded so 0.005 prints as 0.5% rather than 0.5000000000000001%.
		return c.Op + " " + strconv.FormatFloat(math.Round(c.Threshold*1e8)/1e6, 'f', -1, 64) + "%"
	}
	return c.Op + " " + formatFigure(c.Unit, c.Threshold)
}

// formatFigure prints a ratio as a percentage and seconds as a duration.
func formatFigure(unit string, v float64) string {
	if unit == slo.UnitRatio {
		return fmt.Sprintf("%.2f%%", v*100)
	}
	d := time.Duration(v * float64(time.Second))
	switch {
	case v >= 1e3:
		return d.Round(time.Second).String()
	case v >= 1:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

// waitWindow waits d, showing how much of it has passed: on a terminal a line
// redrawn every second, elsewhere one line when the wait starts.
func waitWindow(ctx context.Context, d time.Duration, w io.Writer, live bool) error {
	if w != nil && !live {
		fmt.Fprintf(w, "ready: measuring for %s\n", d)
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	for {
		if w != nil && live {
			fmt.Fprintf(w, "\rready: measuring %s / %s ", time.Since(start).Round(time.Second), d)
		}
		select {
		case <-ctx.Done():
			if w != nil && live {
				fmt.Fprintln(w)
			}
			return fmt.Errorf("interrupted %s into the %s window", time.Since(start).Round(time.Second), d)
		case <-deadline.C:
			if w != nil && live {
				fmt.Fprint(w, "\r\x1b[K")
			}
			return nil
		case <-tick.C:
		}
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
