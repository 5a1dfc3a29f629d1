// Package load is slipway load: an open-model load generator over loadgen,
// with a JSON result, an HTML report, an error-rate gate and a capacity
// search (--find-capacity).
package load

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clienttls"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// defaultDataDir is where the default --out goes.
const defaultDataDir = ".slipway/load"

// Options are the inputs of Run.
type Options struct {
	loadgen.Options

	// Capacity, when set, runs --find-capacity: the scenario at rising
	// rates instead of Rate for Duration.
	Capacity *CapacityOptions

	// Metrics is service=host:port,... of the /metrics whose CPU and memory
	// a run at one rate records; "none" or "" reads none.
	Metrics string

	Out          string   // JSON result path; the HTML report goes beside it
	MaxErrorRate *float64 // nil: no gate
	JSON         bool
	Quiet        bool   // no progress line
	Dir          string // where the default --out is resolved; "" is the working directory
	Command      string // the command line, recorded in the result
	Stdout       io.Writer
}

// Main parses the flags of slipway load and runs it.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "load", "[--scenario create-order|rpc|http] [--rate 50] [--duration 20s] [flags]",
		description)
	opts := Options{Stdout: env.Stdout, Options: loadgen.Options{Stderr: env.Stderr, Environ: env.Environ}}
	registerScenarioFlags(fs, &opts.Options)
	fs.StringVar(&opts.Out, "out", "", "JSON result `path`; the HTML report goes beside it (default .slipway/load/<scenario>-<time>.json)")
	fs.Func("max-error-rate", "exit 1 when the error rate is above this `fraction` (0.01 is 1%); off unless set", func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		opts.MaxErrorRate = &v
		return nil
	})
	capFlags := CapacityOptions{}
	findCapacity := false
	registerCapacityFlags(fs, &capFlags, &findCapacity)
	fs.BoolVar(&opts.JSON, "json", false, "print the JSON result on stdout instead of the table")
	fs.BoolVar(&opts.Quiet, "quiet", false, "no progress on stderr")
	var tlsFlags clienttls.Flags
	tlsFlags.Register(fs, env.Getenv)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if opts.TLS, err = tlsFlags.Config(func() (string, error) { return workspace.Resolve("", "") }); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkScenarioFlags(opts.Scenario, set); err != nil {
		return cli.UsageError{Err: err}
	}
	if err := checkCapacityFlags(findCapacity, set); err != nil {
		return cli.UsageError{Err: err}
	}
	if findCapacity {
		capFlags.MaxErrorRate = capMaxErrorRate
		if opts.MaxErrorRate != nil {
			capFlags.MaxErrorRate = *opts.MaxErrorRate
			opts.MaxErrorRate = nil
		}
		opts.Capacity = &capFlags
	} else {
		opts.Metrics = capFlags.Metrics
	}
	opts.Command = commandLine(args)
	return Run(ctx, opts)
}

// scenarioFlags lists the flags that belong to one scenario only, so a
// flag given to another is reported rather than ignored.
var scenarioFlags = map[string][]string{
	loadgen.ScenarioOrder: {"users", "protocol", "order-http-addr", "restock", "user-lookups"},
	loadgen.ScenarioRPC:   {"data", "addr"},
	loadgen.ScenarioHTTP:  {"url", "body"},
}

func checkScenarioFlags(scenario string, set map[string]bool) error {
	for sc, names := range scenarioFlags {
		if sc == scenario {
			continue
		}
		for _, name := range names {
			if set[name] {
				return fmt.Errorf("--%s is for --scenario %s, not %s", name, sc, scenario)
			}
		}
	}
	if scenario == loadgen.ScenarioOrder && (set["method"] || set["header"]) {
		return fmt.Errorf("--method and --header are for --scenario rpc or http, not %s", scenario)
	}
	return nil
}

// capacityFlags belong to --find-capacity only.
var capacityFlags = []string{"start-rate", "step-factor", "step-increment", "step-duration", "max-rate", "slo"}

func checkCapacityFlags(findCapacity bool, set map[string]bool) error {
	if findCapacity {
		for _, name := range []string{"rate", "duration"} {
			if set[name] {
				return fmt.Errorf("--%s is for a run at one rate; --find-capacity steps from --start-rate to --max-rate, each for --step-duration", name)
			}
		}
		if set["step-factor"] && set["step-increment"] {
			return errors.New("--step-factor and --step-increment: give one, not both")
		}
		return nil
	}
	for _, name := range capacityFlags {
		if set[name] {
			return fmt.Errorf("--%s is for --find-capacity", name)
		}
	}
	return nil
}

// commandLine renders args as a shell command line, for the record.
// Header values are left out: they are often tokens.
func commandLine(args []string) string {
	parts := []string{"slipway", "load"}
	header := false
	for _, a := range args {
		switch name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "="); {
		case header:
			a = redactHeader(a)
		case strings.HasPrefix(a, "-") && name == "header" && hasValue:
			a = a[:len(a)-len(value)] + redactHeader(value)
		}
		header = a == "--header" || a == "-header"
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`{}*?;&|<>()#!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// redactHeader keeps the name of a "Name: value" header only.
func redactHeader(h string) string {
	name, _, _ := strings.Cut(h, ":")
	return name + ": REDACTED"
}

// withDefaults fills in the names and addresses left empty; numbers are
// the caller's to set (flags have their defaults), and validate rejects a zero.
func (o Options) withDefaults() Options {
	o.Options = o.WithDefaults()
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	return o
}

// validate checks the options and puts every address in dialable form.
func (o *Options) validate() error {
	if err := o.CheckLimits(); err != nil {
		return err
	}
	if r := o.MaxErrorRate; r != nil && !(*r >= 0 && *r <= 1) {
		return fmt.Errorf("--max-error-rate %v: want a fraction from 0 to 1", *r)
	}
	if o.Out != "" && !strings.EqualFold(filepath.Ext(o.Out), ".json") {
		return fmt.Errorf("--out %q: want a .json path (the HTML report goes beside it)", o.Out)
	}
	if _, err := loadgen.ParseHeaders(o.Headers); err != nil {
		return err
	}
	if o.Metrics != "" && o.Metrics != "none" {
		if err := metricsTargets(o.Metrics, o.TLS != nil); err != nil {
			return err
		}
	}
	if c := o.Capacity; c != nil {
		if err := c.validate(); err != nil {
			return err
		}
		if c.Metrics != "none" {
			if err := metricsTargets(c.Metrics, o.TLS != nil); err != nil {
				return err
			}
		}
	}
	return o.CheckTargets()
}

// Run prepares the scenario, runs the schedule, writes the JSON result
// and the HTML report, and prints the figures. It returns nil when the run
// completed, whatever the errors, unless the error-rate gate is exceeded.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	if opts.Capacity != nil {
		return runCapacity(ctx, opts)
	}
	sched := loadgen.Schedule{Rate: opts.Rate, Duration: opts.Duration}
	warmup := loadgen.Schedule{Rate: opts.Rate, Duration: opts.Warmup}
	planned := sched.Len()
	outJSON, outHTML, err := outPaths(opts)
	if err != nil {
		return err
	}

	built, err := loadgen.Build(ctx, opts.Options, planned+warmup.Len())
	if err != nil {
		return err
	}
	defer built.Close()
	if !opts.Quiet {
		fmt.Fprintf(opts.Stderr, "load: %d × %s at %s/s for %s (at most %d in flight)\n",
			planned, built.Describe, loadgen.FormatRate(opts.Rate), opts.Duration, opts.MaxInflight)
	}

	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	if built.Background != nil {
		go built.Background(bgCtx)
	}
	var warm *warmupFigures
	if warmup.Len() > 0 {
		if warm, err = runWarmup(ctx, opts, warmup, built.Target, planned); err != nil {
			return err
		}
	}

	m, metricsErr := openMeter(ctx, opts.Metrics, opts)
	var before []promscrape.Snapshot
	if m != nil {
		before = m.read(ctx)
	}
	startedAt := time.Now()
	sum, info := measure(ctx, opts, sched, built.Target, planned)
	stopBG()
	var usage *runUsage
	if m != nil {
		var skipped []string
		usage, skipped = m.spend(before, m.read(ctx))
		if len(skipped) > 0 {
			metricsErr = "no CPU and memory of " + strings.Join(skipped, ", ") + " (unreadable, or restarted during the run)"
			fmt.Fprintf(opts.Stderr, "load: %s\n", metricsErr)
		}
		if usage != nil && opts.Scenario == loadgen.ScenarioOrder {
			orders := sum.Totals.OK
			usage.Orders = &orders
		}
	}

	res := result{
		Scenario:    opts.Scenario,
		StartedAt:   startedAt.UTC(),
		FinishedAt:  info.End.UTC(),
		Interrupted: info.Interrupted,
		HardStopped: info.HardStopped,
		Config:      configOf(opts, built.Describe),
		Setup:       built.Setup,
		Warmup:      warm,
		Totals:      sum.Totals,
		Latency:     sum.Latency,
		Errors:      sum.Errors,
		HTTPStatus:  sum.HTTPStatus,
		Timeline:    sum.Timeline,
		Histogram:   sum.Histogram,
		Usage:       usage,
		Metrics:     metricsErr,
		Report:      files{JSON: outJSON, HTML: outHTML},
	}
	var gateErr error
	res.Gate, gateErr = gateOf(opts.MaxErrorRate, res.Totals)

	writeErr := writeFiles(res)
	if err := emit(opts, res); err != nil {
		return err
	}
	switch {
	case writeErr != nil:
		return writeErr
	case info.Interrupted:
		return fmt.Errorf("interrupted after %s: the figures cover %d of %d requests", report.Seconds(info.End.Sub(info.Start)), res.Totals.Completed, planned)
	}
	return gateErr
}

// measure runs sched against target with the progress line (unless quiet)
// and returns the figures.
func measure(ctx context.Context, opts Options, sched loadgen.Schedule, target loadgen.Target, planned int) (loadgen.Summary, loadgen.RunInfo) {
	rec := loadgen.NewRecorder()
	engine := &loadgen.Engine{
		Schedule: sched, MaxInflight: opts.MaxInflight, Timeout: opts.Timeout,
		Drain: opts.Timeout, Target: target, Recorder: rec,
	}
	progCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	progress := loadgen.NewProgress(opts.Stderr, opts.Duration, planned)
	if !opts.Quiet {
		go progress.Run(progCtx, rec)
	}
	info := engine.Run(ctx)
	stopProgress()
	progress.Wait(!opts.Quiet)

	return rec.Summary(info), info
}

// gateOf judges the run's error rate against limit (nil: no gate) and says
// why it failed.
func gateOf(limit *float64, t loadgen.Totals) (*gate, error) {
	if limit == nil {
		return nil, nil
	}
	g := &gate{MaxErrorRate: *limit, Passed: t.ErrorRate <= *limit}
	if !g.Passed {
		return g, fmt.Errorf("error rate %.2f%% (%d of %d) is above --max-error-rate %.2f%%",
			100*t.ErrorRate, t.Errors, t.Completed, 100*g.MaxErrorRate)
	}
	return g, nil
}

// runWarmup sends the warm-up schedule and summarises it apart. Its
// requests carry the sequence numbers after the measured run's, so keys
// stay unique.
func runWarmup(ctx context.Context, opts Options, s loadgen.Schedule, target loadgen.Target, offset int) (*warmupFigures, error) {
	rec := loadgen.NewRecorder()
	e := &loadgen.Engine{
		Schedule: s, MaxInflight: opts.MaxInflight, Timeout: opts.Timeout, Drain: opts.Timeout, Recorder: rec,
		Target: loadgen.TargetFunc(func(ctx context.Context, seq int) loadgen.Outcome { return target.Do(ctx, offset+seq) }),
	}
	info := e.Run(ctx)
	if info.Interrupted {
		return nil, errors.New("interrupted during the warm-up")
	}
	sum := rec.Summary(info)
	w := &warmupFigures{
		Duration: opts.Warmup.String(), Requests: sum.Totals.Completed, Errors: sum.Totals.Errors,
		P50: sum.Latency.P50, P99: sum.Latency.P99,
	}
	if !opts.Quiet {
		fmt.Fprintf(opts.Stderr, "warm-up: %d requests in %s, %d errors, p50 %sms, p99 %sms (left out of the figures)\n",
			w.Requests, w.Duration, w.Errors, loadgen.FormatMS(w.P50), loadgen.FormatMS(w.P99))
	}
	return w, nil
}

// outPaths returns where the JSON result and the HTML report go.
func outPaths(opts Options) (string, string, error) {
	out := opts.Out
	if out == "" {
		dir := opts.Dir
		if dir == "" {
			wd, err := os.Getwd()
			if err != nil {
				return "", "", err
			}
			dir = wd
		}
		if root, err := workspace.FindRoot(dir); err == nil {
			dir = root
		}
		name := opts.Scenario + "-" + time.Now().UTC().Format("20060102T150405Z") + ".json"
		out = filepath.Join(dir, defaultDataDir, name)
	}
	return out, strings.TrimSuffix(out, filepath.Ext(out)) + ".html", nil
}

func configOf(opts Options, describe string) config {
	c := config{
		Rate:        opts.Rate,
		Duration:    opts.Duration.String(),
		Warmup:      opts.Warmup.String(),
		DurationSec: opts.Duration.Seconds(),
		MaxInflight: opts.MaxInflight,
		Timeout:     opts.Timeout.String(),
		Target:      describe,
		Command:     opts.Command,
	}
	switch opts.Scenario {
	case loadgen.ScenarioOrder:
		c.Users, c.Protocol = opts.Users, opts.Protocol
	case loadgen.ScenarioRPC:
		c.Method, c.Protocol = opts.Method, "grpc"
	case loadgen.ScenarioHTTP:
		c.Method, c.URL, c.Protocol = opts.Method, opts.URL, "http"
	}
	return c
}
