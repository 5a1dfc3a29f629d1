// Package app assembles the user service and runs it: parse flags, load the
// config, build telemetry, wire the service, serve until ctx ends.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/services/user/internal/config"
)

// Run is the user service's whole life: it serves until ctx ends (main ties
// ctx to SIGINT and SIGTERM), then shuts down gracefully. args are the
// command-line arguments without the program name; logs go to stdout.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet(config.Service, flag.ContinueOnError)
	flags.SetOutput(stdout)
	configPath := flags.String("config", "", "YAML config `file`; environment variables override it")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}

	cfg := config.New()
	if err := platformconfig.Load(cfg, *configPath, getenv); err != nil {
		return err
	}
	level, err := telemetry.ParseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	logger := telemetry.NewLogger(stdout, cfg.Service, level)
	tp, flushTraces, err := telemetry.NewTracerProvider(ctx, cfg.Service, getenv)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	reg := telemetry.NewRegistry()

	a, cleanup, err := newApp(ctx, cfg, logger, reg, tp)
	if err != nil {
		// The App flushes traces when it stops; one that never ran must be flushed here.
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return errors.Join(fmt.Errorf("start %s: %w", cfg.Service, err), flushTraces(flushCtx))
	}
	defer cleanup()
	return a.Run(ctx)
}
