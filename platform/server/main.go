package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// Config is a service's whole configuration: a struct that embeds
// config.Base (which provides Common) and may have its own keys.
type Config interface {
	Common() *config.Base
}

// BuildFunc is a service's injector (its wire newApp): everything the
// service needs, built from its config, logger, registry and tracer.
type BuildFunc[C Config] func(ctx context.Context, cfg C, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider) (*App, func(), error)

// Main is a service's whole program, the same for every service: parse args
// (--config), load the config from its defaults (newConfig), the YAML file
// and getenv, build telemetry, build the App with build, and serve until ctx
// ends (main ties ctx to SIGINT and SIGTERM). Logs go to stdout. Tests call
// it with GRPC_ADDR and HTTP_ADDR on port 0 and read the bound addresses from
// the "serving" log line.
//
// With "migrate status" or "migrate up" as its first arguments, Main instead
// runs the service's database migrations (the same fs.FS its store gives
// store.Provide) and returns (see migrate).
func Main[C Config](ctx context.Context, args []string, getenv func(string) string, stdout io.Writer,
	newConfig func() C, build BuildFunc[C], migrations store.Migrations,
) error {
	cfg := newConfig()
	service := cfg.Common().Service
	if len(args) > 0 && args[0] == "migrate" {
		return migrate(ctx, args[1:], getenv, stdout, cfg, migrations)
	}
	flags := flag.NewFlagSet(service, flag.ContinueOnError)
	flags.SetOutput(stdout)
	configPath := flags.String("config", "", "YAML config `file`; environment variables override it")
	flags.Usage = func() { printUsage(stdout, flags, cfg) }
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments: %q", ErrUsage, flags.Args())
	}
	if err := config.Load(cfg, *configPath, getenv); err != nil {
		return err
	}
	level, err := telemetry.ParseLevel(cfg.Common().LogLevel)
	if err != nil {
		return err
	}
	logger := telemetry.NewLogger(stdout, service, level)
	tp, flushTraces, err := telemetry.NewTracerProvider(ctx, service, getenv)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	app, cleanup, err := build(ctx, cfg, logger, telemetry.NewRegistry(), tp)
	if err != nil {
		// A built App flushes traces when it stops; one that never ran is flushed here.
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return errors.Join(fmt.Errorf("start %s: %w", service, err), flushTraces(flushCtx))
	}
	defer cleanup()
	return app.Run(ctx)
}

// RunFunc is a service's whole program, its app.Run (which calls Main).
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// Command is a service binary's main, the same for every service: it runs
// run with the process's arguments, environment and stdout until SIGINT or
// SIGTERM, prints a failure as "<service>: <error>" on stderr, and returns
// the exit status (ExitCode) for os.Exit.
func Command(service string, run RunFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return command(ctx, service, run, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
}

func command(ctx context.Context, service string, run RunFunc, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := run(ctx, args, getenv, stdout)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "%s: %v\n", service, err)
	}
	return ExitCode(err)
}

// ErrUsage marks a mistake in a service's command line; ExitCode maps it to 2.
var ErrUsage = errors.New("usage")

// ExitCode is the process exit status for what Main returned: 0 for a clean
// stop or -help, 2 for a usage error, 1 for anything else.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	default:
		return 1
	}
}

// printUsage is a service's -help: its flags, then every environment
// variable of its config with the default, listed from the config's tags.
func printUsage(w io.Writer, flags *flag.FlagSet, cfg any) {
	name := flags.Name()
	fmt.Fprintf(w, "usage: %s [--config file]\n"+
		"       %s migrate status|up [--config file] [--json]\n\n"+
		"Runs the %s service. Its configuration is the defaults below, then the YAML file\n"+
		"(--config), then the environment variables below; it is validated before anything starts.\n"+
		"\"migrate status\" lists the database migrations, applied or pending; \"migrate up\"\n"+
		"applies the pending ones (as every start does) and exits without serving.\n\n"+
		"flags:\n", name, name, name)
	flags.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n    \t%s\n", f.Name, arg, usage)
	})
	fmt.Fprint(w, "\nenvironment:\n")
	vars, err := config.EnvVars(cfg)
	if err != nil {
		fmt.Fprintf(w, "  (%v)\n", err)
		return
	}
	_ = config.WriteEnvTable(w, vars)
}

// MigrateReport is what "<service> migrate status|up --json" prints.
type MigrateReport struct {
	Service    string            `json:"service"`
	Dialect    store.Dialect     `json:"dialect"`
	Applied    []store.Migration `json:"applied,omitempty"` // by this "migrate up"
	Migrations []store.Migration `json:"migrations"`        // every file, by version
	Pending    int               `json:"pending"`
}

// migrate is "<service> migrate status|up [--config file] [--json]": load
// the service's config as a start does, open its database, list
// (status) or apply (up) its migrations, print them as a table or, with --json, as a
// MigrateReport, and return without serving. Any error is 1; pending
// migrations are not an error.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, cfg Config, migrations store.Migrations) error {
	base := cfg.Common()
	flags := flag.NewFlagSet(base.Service+" migrate", flag.ContinueOnError)
	flags.SetOutput(stdout)
	configPath := flags.String("config", "", "YAML config `file`; environment variables override it")
	asJSON := flags.Bool("json", false, "print a JSON object instead of a table")
	flags.Usage = func() {
		fmt.Fprintf(stdout, "usage: %s migrate status|up [--config file] [--json]\n\n"+
			"status lists the database migrations, applied or pending; up applies the pending ones.\n"+
			"The database is the service's DATABASE_URL (%s -help lists its settings).\n\nflags:\n", base.Service, base.Service)
		flags.PrintDefaults()
	}
	parse := func(args []string) error {
		err := flags.Parse(args)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			err = fmt.Errorf("%w: %w", ErrUsage, err)
		}
		return err
	}
	// Flags may come before or after the verb.
	if err := parse(args); err != nil {
		return err
	}
	verb := flags.Arg(0)
	if verb != "status" && verb != "up" {
		return fmt.Errorf("%w: migrate: want status or up, got %q", ErrUsage, verb)
	}
	if err := parse(flags.Args()[1:]); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("%w: migrate %s: unexpected arguments: %q", ErrUsage, verb, flags.Args())
	}
	if migrations == nil {
		return fmt.Errorf("migrate: service %s has no migrations", base.Service)
	}
	if err := config.Load(cfg, *configPath, getenv); err != nil {
		return err
	}
	db, err := store.Open(ctx, base.DatabaseURL, base.Service, nil, store.WithPool(base.DB))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = db.Close() }()

	report := MigrateReport{Service: base.Service, Dialect: db.Dialect}
	if verb == "up" {
		if report.Applied, err = db.MigrateUp(ctx, migrations); err != nil {
			// The files before the failing one are committed: say which.
			for _, m := range report.Applied {
				fmt.Fprintf(stdout, "applied %04d_%s\n", m.Version, m.Name)
			}
			return fmt.Errorf("migrate up: %w", err)
		}
	}
	if report.Migrations, err = db.MigrationStatus(ctx, migrations); err != nil {
		return fmt.Errorf("migrate %s: %w", verb, err)
	}
	for _, m := range report.Migrations {
		if m.State == store.MigrationPending {
			report.Pending++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return writeMigrations(stdout, verb, report)
}

// writeMigrations prints a migrate report for people.
func writeMigrations(w io.Writer, verb string, r MigrateReport) error {
	if verb == "up" {
		for _, m := range r.Applied {
			fmt.Fprintf(w, "applied %04d_%s\n", m.Version, m.Name)
		}
		if len(r.Applied) == 0 {
			fmt.Fprintln(w, "nothing to apply")
		}
	}
	fmt.Fprintf(w, "%s database (%s): %d migrations, %d pending\n\n", r.Service, r.Dialect, len(r.Migrations), r.Pending)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, m := range r.Migrations {
		at := "-"
		if !m.AppliedAt.IsZero() {
			at = m.AppliedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\t%s\n", m.Version, m.Name, m.State, at)
	}
	return tw.Flush()
}
