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
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flags.Args())
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
