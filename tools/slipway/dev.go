package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devconsole"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

func devMain(ctx context.Context, args []string, env *cli.Env) error {
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
			"(default "+defaultJaegerURL+").\n\n"+
			"--tls runs everything over TLS: dev keeps a development CA and a certificate per service,\n"+
			"console and CLI under .slipway/tls (crypto/x509, reissued when missing or expiring), gives\n"+
			"each service TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE, and the gRPC ports then require\n"+
			"client certificates (mTLS). The HTTP ports and the console serve https; dev prints how to\n"+
			"trust the CA and how to call the services with curl and grpcurl.")
	opts := fleet.Options{Stdout: env.Stdout, Environ: env.Environ, Force: env.Force}
	var services string
	fs.StringVar(&services, "services", "", "comma-separated `list` of services to run (default: every one that exists)")
	fs.StringVar(&opts.Host, "host", "127.0.0.1", "`host` the services listen on")
	fs.IntVar(&opts.GRPCBase, "grpc-port-base", workspace.DefaultGRPCBase, "gRPC `port` of user; order, inventory and notification use the next three")
	fs.IntVar(&opts.NATSPort, "nats-port", 0, "`port` of the embedded NATS JetStream server (0 picks a free one; unused when NATS_URL is set)")
	fs.IntVar(&opts.HTTPBase, "http-port-base", workspace.DefaultHTTPBase, "HTTP `port` of user; order, inventory and notification use the next three")
	fs.IntVar(&opts.ConsolePort, "console-port", defaultConsolePort, "`port` of the console on --host (0 turns the console off)")
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
		return err
	}
	for s := range strings.SplitSeq(services, ",") {
		if s = strings.TrimSpace(s); s != "" {
			opts.Services = append(opts.Services, s)
		}
	}
	if err := validateDev(opts); err != nil {
		return cli.UsageError{Err: err}
	}
	return runDev(ctx, opts)
}

func validateDev(o fleet.Options) error {
	for _, s := range o.Services {
		if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == s }) {
			return fmt.Errorf("unknown service %q in --services (known: %s)", s, strings.Join(workspace.Names(workspace.Known), ", "))
		}
	}
	last := workspace.Known[len(workspace.Known)-1].GRPCPort - workspace.DefaultGRPCBase
	for flag, base := range map[string]int{"--grpc-port-base": o.GRPCBase, "--http-port-base": o.HTTPBase} {
		if base < 1 || base+last > 65535 {
			return fmt.Errorf("%s %d: need 1..%d", flag, base, 65535-last)
		}
	}
	switch o.Color {
	case "", "auto", "always", "never":
	default:
		return fmt.Errorf("--color %q: want auto, always or never", o.Color)
	}
	if o.ConsolePort < 0 || o.ConsolePort > 65535 {
		return fmt.Errorf("--console-port %d: need 0..65535", o.ConsolePort)
	}
	if o.ConsoleMaxTraces < 0 || o.ConsoleMaxSpans < 0 || o.ConsoleMaxBytes < 0 {
		return errors.New("--console-max-traces, --console-max-spans and --console-max-bytes must not be negative")
	}
	if o.ReadyTimeout < 0 || o.StopTimeout < 0 || o.Debounce < 0 {
		return errors.New("timeouts must not be negative")
	}
	prefix := o.PostgresPrefix
	if prefix == "" {
		prefix = fleet.DefaultDatabasePrefix
	}
	return validatePostgres(o.Postgres, prefix)
}

func endpoints(plan []fleet.Service, opts fleet.Options) []workspace.Endpoint {
	var eps []workspace.Endpoint
	for _, s := range plan {
		eps = append(eps, workspace.Endpoint{Service: s.Name, Kind: "gRPC", Addr: s.GRPCAddr}, workspace.Endpoint{Service: s.Name, Kind: "HTTP", Addr: s.HTTPAddr})
	}
	if opts.ConsolePort != 0 {
		eps = append(eps, workspace.Endpoint{Service: "console", Kind: "HTTP", Addr: fleet.ConsoleAddr(opts)})
	}
	return eps
}

// runDev builds and runs the services until ctx is cancelled, then stops
// them. It returns nil when every service stopped cleanly on request.
func runDev(ctx context.Context, opts fleet.Options) error {
	opts = opts.WithDefaults()
	if err := validateDev(opts); err != nil {
		return cli.UsageError{Err: err}
	}
	root, err := workspace.Resolve(opts.Root, opts.Dir)
	if err != nil {
		return err
	}
	defs, err := workspace.Select(root, opts.Services)
	if err != nil {
		return err
	}
	plan, err := fleet.Plan(root, defs, opts)
	if err != nil {
		return err
	}
	names := workspace.Names(defs)
	getenv := func(k string) string { v, _ := envvar.Lookup(opts.Environ, k); return v }
	out := fleet.NewConsole(opts.Stdout, fleet.ColorEnabled(opts.Color, opts.Stdout, getenv), names...)
	out.Infof("workspace %s: %s", root, strings.Join(names, ", "))

	if err := workspace.CheckPortsFree(endpoints(plan, opts)); err != nil {
		return fmt.Errorf("%w\nstop what holds the port (lsof -i :PORT) or move the services with --grpc-port-base / --http-port-base (the console with --console-port)", err)
	}
	if opts.Postgres != "" {
		if err := ensureDatabases(ctx, opts.Postgres, opts.PostgresPrefix, names, out); err != nil {
			return err
		}
	}
	for _, dir := range []string{"bin", "data", "keys", "nats"} {
		if err := os.MkdirAll(filepath.Join(root, ".slipway", dir), 0o700); err != nil {
			return err
		}
	}
	var certs *devcert.Bundle
	if opts.TLS {
		if certs, err = ensureDevTLS(root, plan, out); err != nil {
			return err
		}
		out.Infof("tls: dev CA %s; every service gets its own certificate (spiffe://%s/<service>)", certs.CAFile, certs.TrustDomain)
	}

	if _, set := envvar.Lookup(opts.Environ, "NATS_URL"); !set {
		b, err := fleet.StartBroker(root, opts.Host, opts.NATSPort, fleet.WithServiceUsers(),
			fleet.WithEventSigning(filepath.Join(root, ".slipway", "keys", "events-order-ed25519.key")))
		if err != nil {
			return err
		}
		defer b.Stop()
		for i := range plan {
			plan[i].Env = b.Credentials(envvar.Set(plan[i].Env, "NATS_URL", b.URL()), plan[i].Name)
		}
		out.Infof("embedded NATS JetStream at %s (data in .slipway/nats)", b.URL())
	} else {
		out.Infof("NATS from the environment: %s", getenv("NATS_URL"))
	}

	// The console runs from before the build, so it shows the services
	// starting and receives their first spans.
	sup := fleet.NewSupervisor(out)
	if opts.ConsolePort != 0 {
		cs, err := startConsole(opts, plan, certs, sup, out)
		if err != nil {
			return err
		}
		defer cs.Stop()
		out.Infof("console at %s", consoleURL(opts))
	}

	// Hot reload watches from before the first build, so that an edit saved
	// while the services build and start is rebuilt once they serve.
	var watch *hotWatch
	if !opts.NoWatch && !opts.NoBuild {
		if watch, err = startHotWatch(ctx, root, opts, out); err != nil {
			out.Infof("hot reload is off: %v", err)
		}
		defer watch.Stop()
	}

	buildStart := time.Now()
	if opts.NoBuild {
		for _, s := range plan {
			if _, err := os.Stat(s.Binary); err != nil {
				return fmt.Errorf("--no-build: no binary for %s: %w", s.Name, err)
			}
		}
	} else {
		out.Infof("building %d service(s), up to %d at a time", len(plan), min(len(plan), runtime.GOMAXPROCS(0)))
		if _, err := fleet.BuildServices(ctx, root, names, opts.Environ, out); err != nil {
			if ctx.Err() != nil {
				out.Infof("interrupted during the build")
				return nil //nolint:nilerr // an interrupted build is a clean stop, not a failure
			}
			return err
		}
	}
	buildTook := time.Since(buildStart)
	if opts.AfterBuild != nil {
		opts.AfterBuild()
	}

	procs := make(map[string]*fleet.Process, len(plan))
	startAt := time.Now()
	for _, s := range plan {
		p, err := sup.Start(fleet.ProcSpec{Name: s.Name, Path: s.Binary, Dir: root, Env: s.Env})
		if err != nil {
			_ = fleet.Stop(sup, opts, out)
			return err
		}
		procs[s.Name] = p
		out.Infof("started %s (pid %d): gRPC %s, HTTP %s", s.Name, p.Pid(), s.GRPCAddr, s.HTTPAddr)
	}

	readyAt, err := fleet.WaitReady(ctx, sup, plan, procs, opts, out)
	if err != nil {
		stopErr := fleet.Stop(sup, opts, out)
		if errors.Is(err, fleet.ErrInterrupted) {
			return stopErr
		}
		return err
	}
	out.Block(readyTable(plan, procs, readyAt, startAt, buildTook, opts.NoBuild, getenv))
	if opts.ConsolePort != 0 {
		out.Infof("%s", consoleSummary(opts))
	}
	if certs != nil {
		out.Block(tlsSummary(root, certs, plan))
	}

	// Without hot reload a service that dies ends dev; with it, the others
	// keep running and the next change that affects it starts it again.
	var (
		reload  *reloader
		batches <-chan []fileChange
	)
	if watch != nil {
		reload, err = watch.startReload(ctx, names, plan, procs, sup, buildStart)
		if err != nil {
			watch.Stop()
			out.Infof("hot reload is off: %v", err)
		} else {
			batches = watch.Batches()
		}
	}
	for {
		select {
		case <-ctx.Done():
			out.Infof("stopping %d service(s): SIGTERM, SIGKILL after %s", len(sup.Running()), opts.StopTimeout)
			return fleet.Stop(sup, opts, out)
		case e := <-sup.Exited():
			if reload == nil {
				out.Infof("%s exited on its own after %s: %s", e.Name, report.Seconds(e.Uptime), e.Describe())
				fleet.ShowTail(out, procs[e.Name])
				_ = fleet.Stop(sup, opts, out)
				return fmt.Errorf("%s exited unexpectedly: %s", e.Name, e.Describe())
			}
			if reload.ownExit(e.Name) {
				continue
			}
			out.Infof("%s exited on its own after %s: %s", e.Name, report.Seconds(e.Uptime), e.Describe())
			fleet.ShowTail(out, reload.procs[e.Name])
			out.Infof("the other services keep running; save a fix and dev rebuilds and restarts %s", e.Name)
		case changes := <-batches:
			reload.Reload(ctx, changes)
		}
	}
}

// readyTable renders the services, where to reach them and how long each
// took from process start to SERVING.
func readyTable(plan []fleet.Service, procs map[string]*fleet.Process, readyAt map[string]time.Time, startAt time.Time, buildTook time.Duration, noBuild bool, getenv func(string) string) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSERVICE\tSTATE\tGRPC\tHTTP\tDOCS\tDATABASE\tREADY IN")
	var last time.Time
	for _, s := range plan {
		at := readyAt[s.Name]
		if at.After(last) {
			last = at
		}
		fmt.Fprintf(tw, "%s\tSERVING\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.GRPCDial, s.HTTPDial, s.DocsURL(),
			fleet.URLScheme(fleet.EnvValue(s.Env, "DATABASE_URL")), report.Seconds(at.Sub(procs[s.Name].Started())))
	}
	_ = tw.Flush()
	build := "build " + report.Seconds(buildTook)
	if noBuild {
		build = "build skipped"
	}
	fmt.Fprintf(&b, "all %d services SERVING in %s (%s)\n", len(plan), report.Seconds(last.Sub(startAt)), build)
	if getenv("ADMIN_EMAIL") == "" && getenv("ADMIN_PASSWORD") == "" {
		fmt.Fprintf(&b, "admin login (dev only): %s / %s\n", workspace.DevAdminEmail, workspace.DevAdminPassword)
	}
	fmt.Fprintln(&b, "Ctrl-C stops every service")
	return b.String()
}
