// Package dev is `slipway dev`: its flags and help; the session itself is
// package devloop, which bench runs too.
package dev

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devconsole"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devloop"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Main is `slipway dev`: it parses the flags and runs a devloop session.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	opts, err := parse(args, env)
	if err != nil {
		return err
	}
	return devloop.Run(ctx, opts)
}

// parse reads dev's flags into the session's options, checked.
func parse(args []string, env *cli.Env) (fleet.Options, error) {
	fs := cli.NewFlagSet(env.Stderr, "dev", "[flags]",
		"Builds every service that exists (services/<svc>/cmd/<svc>) into .slipway/bin, runs them\n"+
			"with embedded defaults (SQLite under .slipway/data, dev signing key under .slipway/keys),\n"+
			"streams their logs with a service prefix, waits until each answers gRPC health SERVING\n"+
			"and prints where to reach it. Ctrl-C stops them all (SIGTERM, then SIGKILL after\n"+
			"--stop-timeout; a second Ctrl-C kills at once).\n\n"+
			"Hot reload: dev watches the workspace from before the first build and, once it has been\n"+
			"quiet for --debounce, rebuilds only the services a change affects (from the package graph\n"+
			"of each service's main), replaces each process and waits for SERVING. A file saved while\n"+
			"the services build or start is rebuilt as soon as they serve. A build error is shown and\n"+
			"the old process keeps serving. A .proto change under api/proto regenerates the code first\n"+
			"(make gen-proto gen-openapi). Dev builds link without DWARF and symbol table (-ldflags=-s -w,\n"+
			"faster to link); slipway debug builds with everything. --no-watch or --no-build turn it off.\n\n"+
			"Environment: DATABASE_URL, DRAIN_DELAY, AUTH_JWKS_URL, AUTH_SIGNING_KEY_FILE, ADMIN_EMAIL\n"+
			"and ADMIN_PASSWORD get dev defaults only when unset, so `DATABASE_URL=postgres://...\n"+
			"slipway dev` runs on PostgreSQL. SLIPWAY_<SVC>_<NAME> sets NAME for one service only\n"+
			"(SLIPWAY_INVENTORY_LOG_LEVEL=debug). GRPC_ADDR and HTTP_ADDR always come from the flags.\n\n"+
			"PostgreSQL: --postgres postgres://postgres@127.0.0.1:5432 runs every service on its own\n"+
			"database on that server (slipway_user, slipway_order, ...; --postgres-prefix), creating\n"+
			"the ones that are missing; it sets DATABASE_URL over the environment's. Without it the\n"+
			"services run on SQLite.\n\n"+
			"Console: http://localhost:8080 (--console-port; 0 turns it off) shows the services, their\n"+
			"API documents and recent traces with their log lines. dev adds the console's origins to\n"+
			"CORS_ALLOWED_ORIGINS and, unless OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set,\n"+
			"points every service's OTLP exporter at the console, which keeps the newest traces in\n"+
			"memory. With an endpoint set the console links to Jaeger at SLIPWAY_JAEGER_URL\n"+
			"(default "+devloop.DefaultJaegerURL+").\n\n"+
			"--tls runs everything over TLS: dev keeps a development CA and a certificate per service,\n"+
			"console and CLI under .slipway/tls (crypto/x509, reissued when missing or expiring), gives\n"+
			"each service TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE, and the gRPC ports then require\n"+
			"client certificates (mTLS). The HTTP ports and the console serve https; dev prints how to\n"+
			"trust the CA and how to call the services with curl and grpcurl.\n\n"+
			"Replicas: --replicas order=2 runs order as two instances, order-1 and order-2 in the log\n"+
			"prefix, on order's ports and those plus 100 (50152, 8182), on one database; every peer of\n"+
			"order dials both (INVENTORY_ADDR-style settings take host:port,host:port) and balances\n"+
			"over them, retrying on the other instance. Hot reload is off with replicas.")
	opts := fleet.Options{Stdout: env.Stdout, Environ: env.Environ, Force: env.Force}
	var services, replicas string
	fs.StringVar(&services, "services", "", "comma-separated `list` of services to run (default: every one that exists)")
	fs.StringVar(&replicas, "replicas", "", "run services as several instances: `SVC=N[,SVC=N]` (N from 1 to 9)")
	fs.StringVar(&opts.Host, "host", "127.0.0.1", "`host` the services listen on")
	fs.IntVar(&opts.GRPCBase, "grpc-port-base", workspace.DefaultGRPCBase, "gRPC `port` of user; every other service keeps its offset from user in the registry (order +1, ..., payment +4)")
	fs.IntVar(&opts.NATSPort, "nats-port", 0, "`port` of the embedded NATS JetStream server (0 picks a free one; unused when NATS_URL is set)")
	fs.IntVar(&opts.HTTPBase, "http-port-base", workspace.DefaultHTTPBase, "HTTP `port` of user; every other service keeps its offset from user in the registry (order +1, ..., payment +4)")
	fs.IntVar(&opts.ConsolePort, "console-port", devloop.DefaultConsolePort, "`port` of the console on --host (0 turns the console off)")
	fs.IntVar(&opts.ConsoleMaxTraces, "console-max-traces", devconsole.DefaultMaxTraces, "the console keeps at most this many `traces`, evicting the oldest")
	fs.IntVar(&opts.ConsoleMaxSpans, "console-max-spans", devconsole.DefaultMaxSpans, "the console keeps at most this many `spans`, evicting the oldest traces")
	opts.ConsoleMaxBytes = devconsole.DefaultMaxBytes
	fs.Var(byteSize{&opts.ConsoleMaxBytes}, "console-max-bytes", "the console keeps traces of at most this approximate `size` (bytes, or with B, KiB, MiB or GiB), evicting the oldest")
	fs.StringVar(&opts.Postgres, "postgres", "", "run the services on PostgreSQL at this server `URL`, one database each, created when missing")
	fs.StringVar(&opts.PostgresPrefix, "postgres-prefix", fleet.DefaultDatabasePrefix, "database name `prefix` under --postgres: <prefix><service>")
	fs.BoolVar(&opts.TLS, "tls", false, "serve TLS and mTLS everywhere with a development CA under .slipway/tls")
	fs.BoolVar(&opts.NoBuild, "no-build", false, "skip the build and run the binaries already in .slipway/bin (no hot reload)")
	fs.BoolVar(&opts.NoWatch, "no-watch", false, "no hot reload: do not watch the workspace for changes")
	fs.DurationVar(&opts.Debounce, "debounce", fleet.DefaultDebounce, "hot reload waits until no file has changed for this `duration`")
	fs.DurationVar(&opts.ReadyTimeout, "ready-timeout", 30*time.Second, "how long every service has to answer SERVING")
	fs.DurationVar(&opts.StopTimeout, "stop-timeout", 15*time.Second, "how long a service has to exit after SIGTERM before SIGKILL")
	fs.StringVar(&opts.Color, "color", "auto", "`when` to colour the prefixes: auto (only on a terminal, honours NO_COLOR), always or never")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return fleet.Options{}, err
	}
	opts.Services = cli.List(services)
	var err error
	if opts.Replicas, err = fleet.ParseReplicas(replicas); err != nil {
		return fleet.Options{}, cli.UsageError{Err: err}
	}
	if err := opts.Validate(); err != nil {
		return fleet.Options{}, cli.UsageError{Err: err}
	}
	if hasReplicas(opts.Replicas) && !opts.NoWatch {
		// Hot reload replaces one process per service; it does not yet
		// know a service's instances.
		opts.NoWatch = true
		fmt.Fprintln(env.Stderr, "dev: hot reload is off with --replicas")
	}
	return opts, nil
}

// hasReplicas reports whether some service runs as more than one instance.
func hasReplicas(replicas map[string]int) bool {
	for _, n := range replicas {
		if n > 1 {
			return true
		}
	}
	return false
}
