// Package app builds the order service from its configuration and runs
// it until its context ends.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/services/order/internal/config"
)

// Run is the order service's whole program: parse args (--config), load
// the configuration from the file and getenv, open and migrate the database,
// connect to NATS and the peers, build the servers and serve (with the
// outbox relay beside them) until ctx ends. Logs go to stdout. Tests call it
// with GRPC_ADDR and HTTP_ADDR on port 0.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet(config.Service, flag.ContinueOnError)
	flags.SetOutput(stdout)
	configPath := flags.String("config", "", "YAML config `file`; environment variables override it")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flags.Args())
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		return err
	}
	level, err := telemetry.ParseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	logger := telemetry.NewLogger(stdout, config.Service, level)
	tp, flushTraces, err := telemetry.NewTracerProvider(ctx, config.Service, getenv)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	reg := telemetry.NewRegistry()
	a, cleanup, err := newApp(ctx, cfg, logger, reg, tp)
	if err != nil {
		// Once built, the app flushes traces itself when it stops.
		return errors.Join(err, flushTraces(context.WithoutCancel(ctx)))
	}
	defer cleanup()
	return a.Run(ctx)
}
