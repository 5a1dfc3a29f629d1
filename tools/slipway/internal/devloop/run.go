package devloop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/rebuild"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Run builds and runs the services until ctx is cancelled, then stops
// them. It returns nil when every service stopped cleanly on request.
func Run(ctx context.Context, opts fleet.Options) error {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
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

	if err := workspace.CheckPortsFree(fleet.Endpoints(plan, opts)); err != nil {
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
		if certs, err = ensureTLS(root, plan, out); err != nil {
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
	var watch *rebuild.Watch
	if !opts.NoWatch && !opts.NoBuild {
		if watch, err = rebuild.StartWatch(ctx, root, opts, out); err != nil {
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
		reload  *rebuild.Reloader
		batches <-chan []rebuild.Change
	)
	if watch != nil {
		reload, err = watch.StartReload(ctx, names, plan, procs, sup, buildStart)
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
			if reload.OwnExit(e.Name) {
				continue
			}
			out.Infof("%s exited on its own after %s: %s", e.Name, report.Seconds(e.Uptime), e.Describe())
			fleet.ShowTail(out, reload.Process(e.Name))
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
