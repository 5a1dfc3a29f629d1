package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
)

// Defaults of --find-capacity: rates from 25/s up by half each step to
// 1000/s at most (ten steps of 15 s, two and a half minutes), held while p99
// stays within deploy/slo.yaml's 320 ms and errors at or under 0.5 %.
const (
	capStartRate    = 25
	capStepFactor   = 1.5
	capStepDuration = 15 * time.Second
	capMaxRate      = 1000
	capSLO          = 320 * time.Millisecond
	capMaxErrorRate = 0.005
	capMaxSteps     = 50
)

// CapacityOptions are the --find-capacity settings.
type CapacityOptions struct {
	StartRate     float64
	StepFactor    float64 // next rate = rate × factor, when StepIncrement is 0
	StepIncrement float64 // next rate = rate + increment, when set
	StepDuration  time.Duration
	MaxRate       float64
	SLO           time.Duration // a step holds while its p99 is at or under this
	MaxErrorRate  float64       // and its error rate at or under this
	Metrics       string        // service=host:port,... of the /metrics to read; "none" reads none
}

// rates lists the rates of the steps: from StartRate, up by StepIncrement
// or StepFactor, to MaxRate at most. Rates of 10/s and more are rounded to
// whole requests per second.
func (c CapacityOptions) rates() []float64 {
	var rates []float64
	for r := c.StartRate; r <= c.MaxRate && len(rates) < capMaxSteps; {
		rates = append(rates, r)
		next := r * c.StepFactor
		if c.StepIncrement > 0 {
			next = r + c.StepIncrement
		}
		if next >= 10 {
			next = math.Round(next)
		}
		if next <= r {
			break
		}
		r = next
	}
	return rates
}

// validate checks the settings and that the whole ramp stays within the
// load generator's caps.
func (c CapacityOptions) validate() error {
	switch {
	case !(c.StartRate > 0 && c.StartRate <= loadgen.MaxRate):
		return fmt.Errorf("--start-rate %v: want more than 0 and at most %d per second", c.StartRate, loadgen.MaxRate)
	case !(c.MaxRate >= c.StartRate && c.MaxRate <= loadgen.MaxRate):
		return fmt.Errorf("--max-rate %v: want from --start-rate (%v) to %d per second", c.MaxRate, c.StartRate, loadgen.MaxRate)
	case c.StepIncrement < 0:
		return fmt.Errorf("--step-increment %v: want more than 0 (or 0 to step by --step-factor)", c.StepIncrement)
	case c.StepIncrement == 0 && !(c.StepFactor > 1 && c.StepFactor <= 10):
		return fmt.Errorf("--step-factor %v: want more than 1 and at most 10", c.StepFactor)
	case c.StepDuration < time.Second || c.StepDuration > loadgen.MaxDuration:
		return fmt.Errorf("--step-duration %s: want 1s to %s", c.StepDuration, loadgen.MaxDuration)
	case c.SLO <= 0 || c.SLO > loadgen.MaxTimeout:
		return fmt.Errorf("--slo %s: want more than 0 and at most %s", c.SLO, loadgen.MaxTimeout)
	case !(c.MaxErrorRate >= 0 && c.MaxErrorRate < 1):
		return fmt.Errorf("--max-error-rate %v: want a fraction from 0 to below 1", c.MaxErrorRate)
	}
	rates := c.rates()
	if len(rates) >= capMaxSteps && rates[len(rates)-1] < c.MaxRate {
		return fmt.Errorf("--start-rate %v to --max-rate %v takes more than %d steps: raise --step-factor or --step-increment",
			c.StartRate, c.MaxRate, capMaxSteps)
	}
	if total := time.Duration(len(rates)) * c.StepDuration; total > loadgen.MaxDuration {
		return fmt.Errorf("%d steps of --step-duration %s take %s: at most %s in all; fewer steps or shorter ones",
			len(rates), c.StepDuration, total, loadgen.MaxDuration)
	}
	return nil
}

// capacityStep is one step of the ramp.
type capacityStep struct {
	Rate         float64              `json:"rate"`
	Planned      int                  `json:"planned"`
	Achieved     float64              `json:"achieved_rate"`
	Throughput   float64              `json:"throughput"`
	OK           int64                `json:"ok"`
	Errors       int64                `json:"errors"`
	ErrorRate    float64              `json:"error_rate"`
	Latency      loadgen.Latency      `json:"latency_ms"`
	LateStarts   int64                `json:"late_starts"`
	LateStartLag loadgen.StartLag     `json:"late_start_lag_ms"`
	MaxStartLag  float64              `json:"max_start_lag_ms"`
	TopErrors    []loadgen.ErrorCount `json:"top_errors,omitempty"`
	Services     []serviceUsage       `json:"services,omitempty"`
	Held         bool                 `json:"held"`
	Why          string               `json:"why,omitempty"` // why it did not hold
}

// serviceUsage is what one service spent on one step, from its /metrics
// read before and after the step.
type serviceUsage struct {
	Service string `json:"service"`
	// CPU milliseconds per successful request of the step (user + system,
	// process_cpu_seconds_total), whatever the service did for it.
	CPUMSPerRequest float64 `json:"cpu_ms_per_request"`
	CPUCores        float64 `json:"cpu_cores"` // CPU seconds per second over the step
	RSSMB           float64 `json:"rss_mb"`    // process_resident_memory_bytes at the end of the step
}

// capacityResult is the JSON result of --find-capacity.
type capacityResult struct {
	Scenario   string         `json:"scenario"`
	Target     string         `json:"target"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
	Command    string         `json:"command,omitempty"`
	SLOMS      float64        `json:"slo_p99_ms"`
	MaxErrors  float64        `json:"max_error_rate"`
	StepSec    float64        `json:"step_duration_s"`
	Setup      *loadgen.Setup `json:"setup,omitempty"`
	Warmup     *warmupFigures `json:"warmup,omitempty"`
	Steps      []capacityStep `json:"steps"`
	// Knee is the rate of the last step that held, 0 when the first did not.
	Knee float64 `json:"knee_rate"`
	// Limited says a step failed; false means every step up to --max-rate
	// held and the capacity is above it.
	Limited     bool   `json:"limited"`
	Interrupted bool   `json:"interrupted,omitempty"`
	Metrics     string `json:"metrics_error,omitempty"` // why service figures are missing
	Out         string `json:"result"`
}

// stepRunner runs one step at rate and measures it.
type stepRunner func(ctx context.Context, rate float64) (capacityStep, error)

// findCapacity runs the steps in order until one does not hold, and
// reports each one to progress as it ends. It returns the steps run, the
// knee (the rate of the last step that held) and whether a step failed.
func findCapacity(ctx context.Context, c CapacityOptions, run stepRunner, progress func(i, n int, s capacityStep)) ([]capacityStep, float64, bool, error) {
	rates := c.rates()
	var steps []capacityStep
	knee := 0.0
	for i, rate := range rates {
		s, err := run(ctx, rate)
		if err != nil {
			return steps, knee, false, err
		}
		s.Rate = rate
		s.Held, s.Why = c.judge(s)
		steps = append(steps, s)
		if progress != nil {
			progress(i, len(rates), s)
		}
		if !s.Held {
			return steps, knee, true, nil
		}
		knee = rate
	}
	return steps, knee, false, nil
}

// judge says whether a step held: p99 within the SLO and errors at or
// under the limit.
func (c CapacityOptions) judge(s capacityStep) (bool, string) {
	var why []string
	if s.Latency.P99 > float64(c.SLO)/float64(time.Millisecond) {
		why = append(why, fmt.Sprintf("p99 %sms > %s", loadgen.FormatMS(s.Latency.P99), c.SLO))
	}
	if s.ErrorRate > c.MaxErrorRate {
		why = append(why, fmt.Sprintf("errors %.2f%% > %.2f%%", 100*s.ErrorRate, 100*c.MaxErrorRate))
	}
	return len(why) == 0, strings.Join(why, ", ")
}

// capacityPlanned is how many requests the whole ramp may send, which
// the create-order setup needs stock for.
func capacityPlanned(c CapacityOptions) int {
	n := 0
	for _, r := range c.rates() {
		n += loadgen.Schedule{Rate: r, Duration: c.StepDuration}.Len()
	}
	return n
}

// runCapacity is `slipway load --find-capacity`: the scenario at rising
// rates, one step after another, until a step's p99 passes the SLO or its
// errors the limit.
func runCapacity(ctx context.Context, opts Options) error {
	c := *opts.Capacity
	planned := capacityPlanned(c)
	warmup := loadgen.Schedule{Rate: c.StartRate, Duration: opts.Warmup}
	outJSON, _, err := outPaths(opts)
	if err != nil {
		return err
	}
	outJSON = strings.TrimSuffix(outJSON, ".json") + "-capacity.json"
	if opts.Out != "" {
		outJSON = opts.Out
	}
	built, err := loadgen.Build(ctx, opts.Options, planned+warmup.Len())
	if err != nil {
		return err
	}
	defer built.Close()
	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	if built.Background != nil {
		go built.Background(bgCtx)
	}

	res := capacityResult{
		Scenario: opts.Scenario, Target: built.Describe, StartedAt: time.Now().UTC(), Command: opts.Command,
		SLOMS: float64(c.SLO) / float64(time.Millisecond), MaxErrors: c.MaxErrorRate, StepSec: c.StepDuration.Seconds(),
		Setup: built.Setup, Out: outJSON,
	}
	rates := c.rates()
	if !opts.Quiet {
		fmt.Fprintf(opts.Stderr, "capacity: %s at %d rates from %s/s to %s/s, %s each; a step holds while p99 <= %s and errors <= %.2f%%\n",
			built.Describe, len(rates), loadgen.FormatRate(rates[0]), loadgen.FormatRate(rates[len(rates)-1]),
			c.StepDuration, c.SLO, 100*c.MaxErrorRate)
	}
	if warmup.Len() > 0 {
		if res.Warmup, err = runWarmup(ctx, opts, warmup, built.Target, planned); err != nil {
			return err
		}
	}

	steps := &stepper{opts: opts, step: c.StepDuration, target: built.Target}
	steps.meter, res.Metrics = openMeter(ctx, c.Metrics, opts)
	progress := func(i, n int, s capacityStep) {
		if !opts.Quiet {
			fmt.Fprintf(opts.Stderr, "step %d/%d  %s\n", i+1, n, capacityLine(s))
		}
	}
	res.Steps, res.Knee, res.Limited, err = findCapacity(ctx, c, steps.run, progress)
	stopBG()
	res.FinishedAt = time.Now().UTC()
	if errors.Is(err, errInterrupted) {
		res.Interrupted = true
	} else if err != nil {
		return err
	}

	writeErr := writeCapacity(res)
	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printCapacity(opts.Stdout, res)
	}
	if res.Interrupted {
		return fmt.Errorf("interrupted after %d steps", len(res.Steps))
	}
	return writeErr
}

// openMeter returns what reads the services' CPU and memory around each step
// (nil with --metrics none), or nil and why the services cannot be read.
func openMeter(ctx context.Context, spec string, opts Options) (*meter, string) {
	m := newMeter(spec, opts.TLS, opts.Timeout)
	if m == nil {
		return nil, ""
	}
	if err := m.check(ctx); err != nil {
		fmt.Fprintf(opts.Stderr, "load: no per-service CPU and RSS: %v (--metrics none to skip reading them)\n", err)
		return nil, err.Error()
	}
	return m, ""
}

// stepper runs the steps of the search one after the other; each request
// carries a sequence number after the previous steps', so keys stay unique.
type stepper struct {
	opts   Options
	step   time.Duration
	target loadgen.Target
	meter  *meter // nil: no per-service usage
	offset int
}

// run sends rate requests a second for one step and returns its figures.
func (s *stepper) run(ctx context.Context, rate float64) (capacityStep, error) {
	sched := loadgen.Schedule{Rate: rate, Duration: s.step}
	base := s.offset
	s.offset += sched.Len()
	var before []promscrape.Snapshot
	if s.meter != nil {
		before = s.meter.read(ctx)
	}
	rec := loadgen.NewRecorder()
	engine := &loadgen.Engine{
		Schedule: sched, MaxInflight: s.opts.MaxInflight, Timeout: s.opts.Timeout, Drain: s.opts.Timeout, Recorder: rec,
		Target: loadgen.TargetFunc(func(ctx context.Context, seq int) loadgen.Outcome { return s.target.Do(ctx, base+seq) }),
	}
	progCtx, stopProgress := context.WithCancel(ctx)
	progress := loadgen.NewProgress(s.opts.Stderr, s.step, sched.Len())
	live := !s.opts.Quiet && progress.TTY
	if live {
		go progress.Run(progCtx, rec)
	}
	info := engine.Run(ctx)
	stopProgress()
	progress.Wait(live)
	if info.Interrupted {
		return capacityStep{}, errInterrupted
	}
	step := capacityStepOf(rec.Summary(info))
	if s.meter != nil {
		step.Services = s.meter.usage(before, s.meter.read(ctx), step.OK)
	}
	return step, nil
}

var errInterrupted = errors.New("interrupted")

// capacityStepOf takes a step's figures from the run's summary.
func capacityStepOf(sum loadgen.Summary) capacityStep {
	t := sum.Totals
	s := capacityStep{
		Planned: t.Planned, Achieved: t.AchievedRate, Throughput: t.Throughput,
		OK: t.OK, Errors: t.Errors, ErrorRate: t.ErrorRate, Latency: sum.Latency,
		LateStarts: t.LateStarts, LateStartLag: t.LateStartLag, MaxStartLag: t.MaxStartLag,
	}
	s.TopErrors = sum.Errors[:min(len(sum.Errors), 3)]
	return s
}

// capacityLine is the progress line of one step.
func capacityLine(s capacityStep) string {
	verdict := "held"
	if !s.Held {
		verdict = "FAILED: " + s.Why
	}
	line := fmt.Sprintf("%s/s: achieved %.1f/s, p50 %sms, p99 %sms, errors %.2f%%, late starts %d (p99 %sms)",
		loadgen.FormatRate(s.Rate), s.Achieved, loadgen.FormatMS(s.Latency.P50), loadgen.FormatMS(s.Latency.P99),
		100*s.ErrorRate, s.LateStarts, loadgen.FormatMS(s.LateStartLag.P99))
	for _, u := range s.Services {
		line += fmt.Sprintf(", %s %.2f cpu-ms/req %.0f MB", u.Service, u.CPUMSPerRequest, u.RSSMB)
	}
	return line + ": " + verdict
}

// printCapacity writes the table of steps and the knee.
func printCapacity(w io.Writer, res capacityResult) {
	fmt.Fprintf(w, "capacity of %s: %s steps, p99 SLO %sms, errors at most %.2f%%\n\n",
		res.Target, time.Duration(res.StepSec*float64(time.Second)), loadgen.FormatMS(res.SLOMS), 100*res.MaxErrors)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var services []string
	for _, s := range res.Steps {
		for _, u := range s.Services {
			if !containsString(services, u.Service) {
				services = append(services, u.Service)
			}
		}
	}
	head := "RATE/s\tACHIEVED\tOK/s\tP50 ms\tP99 ms\tERRORS\tLATE\tLATE P99 ms\t"
	for _, svc := range services {
		head += svc + " cpu-ms\t" + svc + " MB\t"
	}
	fmt.Fprintln(tw, head+"HELD\t")
	for _, s := range res.Steps {
		row := fmt.Sprintf("%s\t%.1f\t%.1f\t%s\t%s\t%.2f%%\t%d\t%s\t", loadgen.FormatRate(s.Rate), s.Achieved, s.Throughput,
			loadgen.FormatMS(s.Latency.P50), loadgen.FormatMS(s.Latency.P99), 100*s.ErrorRate, s.LateStarts, loadgen.FormatMS(s.LateStartLag.P99))
		for _, svc := range services {
			u, ok := findUsage(s.Services, svc)
			if !ok {
				row += "-\t-\t"
				continue
			}
			row += fmt.Sprintf("%.2f\t%.0f\t", u.CPUMSPerRequest, u.RSSMB)
		}
		held := "yes"
		if !s.Held {
			held = "no"
		}
		fmt.Fprintln(tw, row+held+"\t")
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	if len(services) > 0 {
		fmt.Fprintln(w, "cpu-ms: CPU milliseconds each service spent per successful request of the step; MB: its RSS at the end of the step.")
	}
	if res.Metrics != "" {
		fmt.Fprintf(w, "no per-service figures: %s\n", res.Metrics)
	}
	fmt.Fprintln(w, "LATE: requests the generator started more than 1ms after their intended time (its own delay, included in the latencies).")
	switch {
	case res.Interrupted:
		fmt.Fprintf(w, "\ninterrupted after %d steps; last step that held: %s/s\n", len(res.Steps), loadgen.FormatRate(res.Knee))
	case res.Limited && res.Knee == 0:
		last := res.Steps[len(res.Steps)-1]
		fmt.Fprintf(w, "\nknee: below %s/s, the first step (%s); lower --start-rate\n", loadgen.FormatRate(last.Rate), last.Why)
	case res.Limited:
		last := res.Steps[len(res.Steps)-1]
		fmt.Fprintf(w, "\nknee: %s/s, the last step that held; %s/s did not (%s)\n", loadgen.FormatRate(res.Knee), loadgen.FormatRate(last.Rate), last.Why)
	default:
		fmt.Fprintf(w, "\nknee: above %s/s: every step held; raise --max-rate\n", loadgen.FormatRate(res.Knee))
	}
	fmt.Fprintf(w, "result %s\n", res.Out)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeCapacity(res capacityResult) error {
	if err := os.MkdirAll(filepath.Dir(res.Out), 0o750); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(res.Out, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write the result: %w", err)
	}
	return nil
}
