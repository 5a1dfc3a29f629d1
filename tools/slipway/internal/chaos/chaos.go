// Package chaos is slipway chaos: fault experiments (deploy/chaos/*.yaml)
// run under the create-order load against a fleet whose dependencies sit
// behind fault proxies, judged by an analysis gate and by invariants read
// from the services' databases.
package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// defaultOut is where reports go, under the workspace root.
const defaultOut = ".slipway/chaos"

// Options are the inputs of Run.
type Options struct {
	Files        []string
	Env          map[string]map[string]string // --env svc:KEY=VALUE, over the experiment's env
	Scale        float64                      // multiplies every duration of the timeline
	Rate         float64                      // 0: the experiment's
	Duration     time.Duration                // 0: the experiment's (before --scale)
	Out          string                       // report directory; "" is <root>/.slipway/chaos
	JSON         bool
	NoBuild      bool
	DatabaseURL  string // postgres://server; "" is SQLite
	NATSURL      string // "" embeds JetStream
	RedisURL     string // "" runs without Redis
	SLO          string // "" is <root>/deploy/slo.yaml
	ReadyTimeout time.Duration
	StopTimeout  time.Duration
	Root         string
	Command      string
	Stdout       io.Writer
	Stderr       io.Writer
	Environ      []string
	Force        <-chan struct{}
}

// Main parses the flags of slipway chaos and runs it.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "chaos", "[flags] deploy/chaos/<experiment>.yaml...",
		description)
	opts := Options{Stdout: env.Stdout, Stderr: env.Stderr, Environ: env.Environ, Force: env.Force, Env: map[string]map[string]string{}}
	fs.Func("env", "set `svc:KEY=VALUE` for one service, over the experiment's env (repeatable), e.g. order:PEER_RETRY_ATTEMPTS=1", envFlag(opts.Env))
	fs.Float64Var(&opts.Scale, "scale", 1, "multiply every duration of the timeline (load duration, fault at and for) by this `factor`: 0.1 runs a 60s experiment in 6s")
	fs.Float64Var(&opts.Rate, "rate", 0, "override the load's `requests` per second")
	fs.DurationVar(&opts.Duration, "duration", 0, "override the load's `duration` (before --scale); it must still span every fault")
	fs.StringVar(&opts.Out, "out", "", "report `dir` (default .slipway/chaos)")
	fs.BoolVar(&opts.JSON, "json", false, "print the reports as JSON on stdout instead of the table")
	fs.BoolVar(&opts.NoBuild, "no-build", false, "run the binaries already in .slipway/bin")
	fs.StringVar(&opts.DatabaseURL, "database-url", "", "PostgreSQL server `URL` to create the fresh databases on (default: DATABASE_URL when it is postgres://, else SQLite)")
	fs.StringVar(&opts.NATSURL, "nats-url", "", "NATS `URL` (default: NATS_URL, else an embedded JetStream)")
	fs.StringVar(&opts.RedisURL, "redis-url", "", "Redis `URL` (default: REDIS_URL, else no Redis)")
	fs.StringVar(&opts.SLO, "slo", "", "SLO `file` with the default thresholds (default deploy/slo.yaml)")
	fs.DurationVar(&opts.ReadyTimeout, "ready-timeout", 60*time.Second, "how long the services have to answer SERVING")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cli.UsageError{Err: fmt.Errorf("%w: %w", cli.ErrFlagParse, err)}
	}
	opts.Files = fs.Args()
	if opts.Scale <= 0 {
		return cli.UsageErrorf("--scale %v: want more than 0 and at most 10", opts.Scale)
	}
	opts.fromEnvironment(env.Getenv)
	opts.Command = strings.Join(append([]string{"slipway", "chaos"}, args...), " ")
	return Run(ctx, opts)
}

// description is the help text of slipway chaos, above its flags.
const description = "Runs fault experiments against a fleet of its own: builds the services once, then for each\n" +
	"experiment starts them on fresh databases (fresh PostgreSQL databases on the server of\n" +
	"DATABASE_URL when it is postgres://, else SQLite under the report directory) and a fresh\n" +
	"embedded JetStream (or NATS_URL), with FAULTS_ENABLED=true and a fault proxy in front of\n" +
	"PostgreSQL, NATS and Redis (REDIS_URL). Once every service is SERVING it runs the\n" +
	"create-order load of `slipway load` and, on the experiment's timeline, switches its faults\n" +
	"on and off: gRPC errors or delay through /admin/faults, a network partition, latency or\n" +
	"bandwidth limit on a dependency, a consumer reset, a SIGKILL/SIGTERM and restart, or a\n" +
	"restart of the local PostgreSQL server itself (pg_ctlcluster; it disturbs every user of it).\n\n" +
	"Then the analysis (success rate and p99 against deploy/slo.yaml unless the experiment\n" +
	"overrides them; payment's own success rate from its /metrics) and, once the sagas, the\n" +
	"outbox and the consumers caught up, the share of acknowledged orders PLACED and the\n" +
	"invariants in the databases: no stock below zero, reservations match orders, one\n" +
	"notification per order event, one order per idempotency key, never captured twice, a\n" +
	"captured order's stock committed, failed and cancelled orders hold nothing, the payment\n" +
	"is the order's total. A payment provider fault can be set for the whole run through\n" +
	"the experiment's env (payment's SANDBOX_TRANSIENT_RATE, SANDBOX_LATENCY_P99). A table\n" +
	"on stdout (or --json), and JSON, Markdown and HTML reports under --out. Exits 1 when\n" +
	"any check fails, naming it.\n\n" +
	"Traffic goes to 127.0.0.1 only, and every run stops by itself."

// envFlag parses --env svc:KEY=VALUE into env.
func envFlag(env map[string]map[string]string) func(string) error {
	return func(s string) error {
		svc, kv, ok := strings.Cut(s, ":")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || !envName.MatchString(k) {
			return fmt.Errorf("%q: want svc:KEY=VALUE", s)
		}
		if _, known := serviceAPI[svc]; !known {
			return fmt.Errorf("%q: unknown service %s (want %s)", s, svc, strings.Join(workspace.Names(workspace.Known), ", "))
		}
		if env[svc] == nil {
			env[svc] = map[string]string{}
		}
		env[svc][k] = v
		return nil
	}
}

// fromEnvironment takes the PostgreSQL server, NATS and Redis of the
// environment for what the flags left unset.
func (o *Options) fromEnvironment(getenv func(string) string) {
	if o.DatabaseURL == "" && strings.HasPrefix(getenv("DATABASE_URL"), "postgres") {
		o.DatabaseURL = getenv("DATABASE_URL")
	}
	if o.NATSURL == "" {
		o.NATSURL = getenv("NATS_URL")
	}
	if o.RedisURL == "" {
		o.RedisURL = getenv("REDIS_URL")
	}
}

func (o *Options) validate() error {
	if len(o.Files) == 0 {
		return errors.New("name at least one experiment file, e.g. deploy/chaos/inventory-errors.yaml")
	}
	if !(o.Scale > 0 && o.Scale <= 10) {
		return fmt.Errorf("--scale %v: want more than 0 and at most 10", o.Scale)
	}
	if o.Rate < 0 || o.Rate > maxRate {
		return fmt.Errorf("--rate %v: want at most %d", o.Rate, maxRate)
	}
	if o.Duration < 0 || o.Duration > loadgen.MaxDuration {
		return fmt.Errorf("--duration %s: want at most %s", o.Duration, loadgen.MaxDuration)
	}
	if o.DatabaseURL != "" && !strings.HasPrefix(o.DatabaseURL, "postgres://") && !strings.HasPrefix(o.DatabaseURL, "postgresql://") {
		return fmt.Errorf("--database-url %s: want a postgres:// server URL (leave it out for SQLite)", report.RedactURL(o.DatabaseURL))
	}
	return nil
}

// loadExperiments reads every file and applies the overrides and the
// scale, then checks that the dependencies each needs are configured.
func loadExperiments(o Options) ([]*experiment, error) {
	var exps []*experiment
	var errs []error
	for _, path := range o.Files {
		exp, err := loadExperiment(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if o.Rate > 0 {
			exp.Load.Rate = o.Rate
		}
		if o.Duration > 0 {
			exp.Load.Duration = duration(o.Duration)
		}
		exp = exp.scaled(o.Scale)
		if err := exp.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s with the command-line overrides: %w", path, err))
			continue
		}
		if exp.needs(depPostgres) && o.DatabaseURL == "" {
			exp.skip = "a network fault on postgres needs PostgreSQL: set DATABASE_URL or --database-url to a postgres:// server"
		}
		if exp.needs(depRedis) && o.RedisURL == "" {
			exp.skip = "a network fault on redis needs Redis: set REDIS_URL or --redis-url (e.g. redis://127.0.0.1:6379)"
		}
		for svc, vars := range o.Env {
			if exp.Env == nil {
				exp.Env = map[string]map[string]string{}
			}
			if exp.Env[svc] == nil {
				exp.Env[svc] = map[string]string{}
			}
			maps.Copy(exp.Env[svc], vars)
		}
		exps = append(exps, exp)
	}
	return exps, errors.Join(errs...)
}

// Run runs every experiment in turn and returns an error naming those
// that failed.
func Run(ctx context.Context, o Options) error {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	exps, err := loadRunnable(o)
	if err != nil {
		return err
	}
	root, err := workspace.Resolve(o.Root, "")
	if err != nil {
		return err
	}
	if o.Out == "" {
		o.Out = filepath.Join(root, defaultOut)
	}
	defaults, err := defaultThresholds(root, o.SLO)
	if err != nil {
		return err
	}
	progress := progressPrinter(o.Stderr)
	if !o.NoBuild {
		if err := buildServices(ctx, root, o, progress); err != nil {
			return err
		}
	}
	reports, failed, skipped := runAll(ctx, o, root, exps, defaults, progress)
	if o.JSON {
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil:
		return errors.New("interrupted")
	case len(failed) > 0:
		return fmt.Errorf("%d of %d experiment(s) failed: %s", len(failed), len(reports)-len(skipped), strings.Join(failed, ", "))
	}
	if len(skipped) > 0 {
		progress("skipped %s: not configured here (see above)", strings.Join(skipped, ", "))
	}
	return nil
}

// withDefaults fills in what the flags leave unset.
func (o Options) withDefaults() Options {
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 15 * time.Second
	}
	return o
}

// loadRunnable reads the experiments and fails when none of them can run here.
func loadRunnable(o Options) ([]*experiment, error) {
	exps, err := loadExperiments(o)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(exps, func(e *experiment) bool { return e.skip == "" }) {
		var why []string
		for _, e := range exps {
			why = append(why, e.File+": "+e.skip)
		}
		return nil, errors.New("nothing to run: " + strings.Join(why, "; "))
	}
	return exps, nil
}

// defaultThresholds are the analysis thresholds of the SLO file (path, else
// deploy/slo.yaml of root), for experiments that set none.
func defaultThresholds(root, path string) (thresholds, error) {
	if path == "" {
		path = filepath.Join(root, "deploy", "slo.yaml")
	}
	spec, err := slo.Load(path)
	if err != nil {
		return thresholds{}, err
	}
	return sloDefaults(spec)
}

// progressPrinter returns what prints chaos' own lines on w. On a terminal
// the load's progress line is redrawn in place: it is cleared first.
func progressPrinter(w io.Writer) func(format string, args ...any) {
	wipe := ""
	if loadgen.IsTerminal(w) {
		wipe = "\r\x1b[K"
	}
	return func(format string, args ...any) {
		fmt.Fprintf(w, wipe+"chaos: "+format+"\n", args...)
	}
}

// buildServices builds every service of the workspace once, before the
// experiments start them.
func buildServices(ctx context.Context, root string, o Options, progress func(string, ...any)) error {
	defs, err := workspace.Select(root, nil)
	if err != nil {
		return err
	}
	progress("building %s", strings.Join(workspace.Names(defs), ", "))
	out := fleet.NewConsole(o.Stderr, false, workspace.Names(defs)...)
	_, err = fleet.BuildServices(ctx, root, workspace.Names(defs), o.Environ, out)
	return err
}

// runAll runs every experiment that can run here, printing each report as
// it ends (unless --json); one that cannot run fails, the others still run.
// It returns every report and the experiments that failed and were skipped.
func runAll(ctx context.Context, o Options, root string, exps []*experiment, defaults thresholds, progress func(string, ...any)) (reports []*Report, failed, skipped []string) {
	for _, exp := range exps {
		if exp.skip != "" {
			progress("SKIP %s: %s", exp.Name, exp.skip)
			reports = append(reports, &Report{Experiment: exp.Name, File: exp.File, Scale: o.Scale, Skipped: exp.skip})
			skipped = append(skipped, exp.Name)
			if !o.JSON {
				fmt.Fprintf(o.Stdout, "\nexperiment %s (%s): SKIP: %s\n", exp.Name, exp.File, exp.skip)
			}
			continue
		}
		rep, err := runExperiment(ctx, o, root, exp, exp.thresholds(defaults), progress)
		if err != nil {
			progress("experiment %s could not run: %v", exp.Name, err)
			rep = &Report{Experiment: exp.Name, File: exp.File, Scale: o.Scale, Failures: []string{"could not run: " + err.Error()}}
			if !o.JSON {
				fmt.Fprintf(o.Stdout, "\nexperiment %s (%s): FAIL: could not run: %v\n", exp.Name, exp.File, err)
			}
		} else if !o.JSON {
			printReport(o.Stdout, rep)
		}
		reports = append(reports, rep)
		if !rep.Passed {
			failed = append(failed, rep.Experiment+" ("+strings.Join(rep.Failures, "; ")+")")
		}
		if ctx.Err() != nil {
			break
		}
	}
	return reports, failed, skipped
}

// runExperiment starts a fleet, runs the load and the faults, checks
// the analysis and the invariants, stops the fleet and writes the report.
// An error means the experiment could not run; a failed check is in the
// report.
func runExperiment(ctx context.Context, o Options, root string, exp *experiment, th thresholds, progress func(string, ...any)) (*Report, error) {
	rep := newReport(o, exp, th)

	progress("experiment %s: %s", exp.Name, strings.Join(rep.Faults, "; "))
	fleet, err := startFleet(ctx, fleetOptions{
		Root: root, Dir: filepath.Dir(rep.Files.ServicesLog), Environ: o.Environ, DatabaseURL: o.DatabaseURL, NATSURL: o.NATSURL,
		RedisURL: o.RedisURL, Env: exp.Env, Replicas: exp.Replicas, ReadyTimeout: o.ReadyTimeout, StopTimeout: o.StopTimeout,
		Force: o.Force, Progress: progress,
	})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = fleet.Stop()
		}
	}()
	progress("all services SERVING")

	stores, closeStores, err := openStores(fleet.databases)
	if err != nil {
		return nil, err
	}
	defer closeStores()
	// Stock and held units before the load, for conservation.
	baseline, err := readStockBaseline(ctx, stores.Inventory)
	if err != nil {
		return nil, fmt.Errorf("read the stock before the load: %w", err)
	}

	if exp.restartsPostgres() {
		dsn, err := fleet.pgDSN()
		if err != nil {
			return nil, err
		}
		if err := pgCheckpoint(ctx, dsn); err != nil {
			return nil, err
		}
		progress("CHECKPOINT before the load, so the restart flushes the load's writes only")
	}
	run := &run{exp: exp, fleet: fleet, progress: progress}
	scrapes := run.scrapeGated(ctx)
	figures, err := run.load(ctx, o)
	if err != nil {
		return nil, err
	}
	run.record(rep, figures, th)
	rep.Services = run.serviceFigures(ctx, scrapes)
	rep.Analysis = append(rep.Analysis, serviceChecks(th, rep.Services)...)
	rep.Effects = append(rep.Effects, run.envEffects(rep.Services)...)

	progress("load done; waiting up to %s for the outbox and the consumers to catch up", exp.Settle)
	took, settleErr := run.settle(ctx, stores, exp.Settle.D())
	if settleErr != nil {
		rep.Settled = settleErr.Error()
		rep.Failures = append(rep.Failures, "settle: "+settleErr.Error())
	} else {
		rep.Settled = "caught up " + report.Seconds(took) + " after the load"
	}
	if run.fleet.restarted("order") > 0 {
		// The sagas a crash left: what order's recovery worker resumed
		// since its restart.
		if resumed, ok := run.metric(ctx, "order", seriesSagaResumed, nil); ok {
			run.event("order's recovery worker resumed %.0f saga(s) since its restart (%s)", resumed, seriesSagaResumed)
		}
	}
	invs, err := checkInvariants(ctx, stores, runFacts{Stock: &baseline, Acked: run.acked})
	if err != nil {
		return nil, fmt.Errorf("check the invariants: %w", err)
	}
	if run.acked != nil {
		orders, err := readOrders(ctx, stores.Order)
		if err != nil {
			return nil, fmt.Errorf("check the placed orders: %w", err)
		}
		rep.Analysis = append(rep.Analysis, placedCheck(th.placed(), run.acked, orders))
	}
	rep.Invariants = append(invs, run.checkResets(ctx)...)
	for _, e := range fleet.Unexpected() {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%s exited on its own: %s (see %s)", e.Name, e.Describe(), rep.Files.ServicesLog))
	}
	rep.Failures = append(rep.Failures, run.errs...)
	rep.Timeline = run.events

	closeStores()
	stopped = true
	if err := fleet.Stop(); err != nil {
		rep.Failures = append(rep.Failures, "stop: "+err.Error())
	}
	rep.FinishedAt = time.Now().UTC()
	rep.verdict()
	if err := writeFiles(rep); err != nil {
		return nil, err
	}
	return rep, nil
}
