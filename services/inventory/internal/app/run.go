// Package app builds the inventory service from its configuration and runs
// it until its context ends.
package app

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

	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/services/inventory/internal/config"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// Run is the inventory service's whole program: parse args (--config), load
// the configuration from the file and getenv, open, migrate and seed the
// database, build the servers and serve until ctx ends. Logs go to stdout.
// Tests call it with GRPC_ADDR and HTTP_ADDR on port 0.
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
	db, err := platformstore.Open(ctx, cfg.DatabaseURL, config.Service, reg)
	if err != nil {
		return errors.Join(fmt.Errorf("open database: %w", err), flushTraces(context.WithoutCancel(ctx)))
	}
	a, cleanup, err := build(ctx, cfg, logger, reg, tp, db)
	if err != nil {
		// Once built, the app closes the database and flushes traces itself.
		return errors.Join(err, db.Close(), flushTraces(context.WithoutCancel(ctx)))
	}
	defer cleanup()
	return a.Run(ctx)
}

// build brings the database schema (and, when configured, the catalog) up
// to date, then wires the app over it.
func build(ctx context.Context, cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry,
	tp *sdktrace.TracerProvider, db *platformstore.DB,
) (*server.App, func(), error) {
	if err := db.Migrate(ctx, store.Migrations()); err != nil {
		return nil, nil, fmt.Errorf("migrate %s database: %w", db.Dialect, err)
	}
	if cfg.SeedCatalog {
		n, err := store.New(db).SeedCatalog(ctx, time.Now())
		if err != nil {
			return nil, nil, err
		}
		if n > 0 {
			logger.InfoContext(ctx, "catalog seeded", "products_added", n)
		}
	}
	return newApp(cfg, logger, reg, tp, db)
}
