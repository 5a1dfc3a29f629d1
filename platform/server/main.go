package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/config"
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
func Main[C Config](ctx context.Context, args []string, getenv func(string) string, stdout io.Writer,
	newConfig func() C, build BuildFunc[C],
) error {
	cfg := newConfig()
	service := cfg.Common().Service
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
	fmt.Fprintf(w, "usage: %s [--config file]\n\n"+
		"Runs the %s service. Its configuration is the defaults below, then the YAML file\n"+
		"(--config), then the environment variables below; it is validated before anything starts.\n\n"+
		"flags:\n", name, name)
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
