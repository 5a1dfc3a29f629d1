// Package devloop is one `slipway dev` session: build, start and supervise the
// services with the embedded broker, the console, PostgreSQL databases and
// TLS when asked, then hot-reload them on edits until Ctrl-C. dev runs it
// from the command line, bench reload runs it in process.
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
	s, err := newSession(opts)
	if err != nil {
		return err
	}
	if err := s.prepare(ctx); err != nil {
		return err
	}
	stopBroker, err := s.startBroker()
	if err != nil {
		return err
	}
	defer stopBroker()

	// The console runs from before the build, so it shows the services
	// starting and receives their first spans.
	if opts.ConsolePort != 0 {
		cs, err := startConsole(opts, s.plan, s.certs, s.sup, s.out)
		if err != nil {
			return err
		}
		defer cs.Stop()
		s.out.Infof("console at %s", consoleURL(opts))
	}
	watch := s.startWatch(ctx)
	defer watch.Stop()

	buildStart := time.Now()
	if err := s.build(ctx); errors.Is(err, errBuildInterrupted) {
		return nil // an interrupted build is a clean stop, not a failure
	} else if err != nil {
		return err
	}
	buildTook := time.Since(buildStart)
	if opts.AfterBuild != nil {
		opts.AfterBuild()
	}

	startAt := time.Now()
	if err := s.startAll(); err != nil {
		return err
	}
	readyAt, err := fleet.WaitReady(ctx, s.sup, s.plan, s.procs, opts, s.out)
	if err != nil {
		stopErr := fleet.Stop(s.sup, opts, s.out)
		if errors.Is(err, fleet.ErrInterrupted) {
			return stopErr
		}
		return err
	}
	s.announce(readyAt, startAt, buildTook)
	reload, batches := s.startReload(ctx, watch, buildStart)
	return s.serve(ctx, reload, batches)
}

// session is one run of dev: the workspace, what runs in it, and where
// its output goes.
type session struct {
	opts   fleet.Options
	root   string
	names  []string // the services, in start order
	plan   []fleet.Service
	getenv func(string) string // of the parent environment
	out    *fleet.Console
	sup    *fleet.Supervisor
	procs  map[string]*fleet.Process // the current process of each service
	certs  *devcert.Bundle           // nil without --tls
}

// newSession finds the workspace and plans its services.
func newSession(opts fleet.Options) (*session, error) {
	root, err := workspace.Resolve(opts.Root, opts.Dir)
	if err != nil {
		return nil, err
	}
	defs, err := workspace.Select(root, opts.Services)
	if err != nil {
		return nil, err
	}
	plan, err := fleet.Plan(root, defs, opts)
	if err != nil {
		return nil, err
	}
	s := &session{opts: opts, root: root, names: workspace.Names(defs), plan: plan, procs: make(map[string]*fleet.Process, len(plan))}
	s.getenv = func(k string) string { v, _ := envvar.Lookup(opts.Environ, k); return v }
	s.out = fleet.NewConsole(opts.Stdout, fleet.ColorEnabled(opts.Color, opts.Stdout, s.getenv), s.names...)
	s.sup = fleet.NewSupervisor(s.out)
	s.out.Infof("workspace %s: %s", root, strings.Join(s.names, ", "))
	return s, nil
}

// prepare checks that the ports are free and makes what the services need
// before they start: their PostgreSQL databases, the state directories and
// the certificates.
func (s *session) prepare(ctx context.Context) error {
	if err := workspace.CheckPortsFree(fleet.Endpoints(s.plan, s.opts)); err != nil {
		return fmt.Errorf("%w\nstop what holds the port (lsof -i :PORT) or move the services with --grpc-port-base / --http-port-base (the console with --console-port)", err)
	}
	if s.opts.Postgres != "" {
		if err := fleet.EnsureDatabases(ctx, s.opts.Postgres, s.opts.PostgresPrefix, s.names, s.out); err != nil {
			return err
		}
	}
	for _, dir := range []string{"bin", "data", "keys", "nats"} {
		if err := os.MkdirAll(filepath.Join(s.root, ".slipway", dir), 0o700); err != nil {
			return err
		}
	}
	if !s.opts.TLS {
		return nil
	}
	certs, err := ensureTLS(s.root, s.plan, s.out)
	if err != nil {
		return err
	}
	s.certs = certs
	s.out.Infof("tls: dev CA %s; every service gets its own certificate (spiffe://%s/<service>)", certs.CAFile, certs.TrustDomain)
	return nil
}

// startBroker starts the embedded NATS JetStream unless the environment
// names one, and gives every service its credentials. The returned
// function stops it.
func (s *session) startBroker() (stop func(), err error) {
	if _, set := envvar.Lookup(s.opts.Environ, "NATS_URL"); set {
		s.out.Infof("NATS from the environment: %s", s.getenv("NATS_URL"))
		return func() {}, nil
	}
	b, err := fleet.StartBroker(s.root, s.opts.Host, s.opts.NATSPort, fleet.WithServiceUsers(),
		fleet.WithEventSigning(filepath.Join(s.root, ".slipway", "keys", "events-order-ed25519.key")))
	if err != nil {
		return nil, err
	}
	for i := range s.plan {
		s.plan[i].Env = b.Credentials(envvar.Set(s.plan[i].Env, "NATS_URL", b.URL()), s.plan[i].Name)
	}
	s.out.Infof("embedded NATS JetStream at %s (data in .slipway/nats)", b.URL())
	return b.Stop, nil
}

// startWatch starts hot reload's watcher, from before the first build so
// that an edit saved while the services build and start is rebuilt once
// they serve. It returns nil when hot reload is off.
func (s *session) startWatch(ctx context.Context) *rebuild.Watch {
	if s.opts.NoWatch || s.opts.NoBuild {
		return nil
	}
	watch, err := rebuild.StartWatch(ctx, s.root, s.opts, s.out)
	if err != nil {
		s.out.Infof("hot reload is off: %v", err)
	}
	return watch
}

// errBuildInterrupted is build's answer when ctx ended during the build.
var errBuildInterrupted = errors.New("interrupted during the build")

// build builds every service, or with --no-build checks that the binaries
// are there.
func (s *session) build(ctx context.Context) error {
	if s.opts.NoBuild {
		for _, svc := range s.plan {
			if _, err := os.Stat(svc.Binary); err != nil {
				return fmt.Errorf("--no-build: no binary for %s: %w", svc.Name, err)
			}
		}
		return nil
	}
	s.out.Infof("building %d service(s), up to %d at a time", len(s.plan), min(len(s.plan), runtime.GOMAXPROCS(0)))
	if _, err := fleet.BuildServices(ctx, s.root, s.names, s.opts.Environ, s.out); err != nil {
		if ctx.Err() != nil {
			s.out.Infof("%v", errBuildInterrupted)
			return errBuildInterrupted
		}
		return err
	}
	return nil
}

// startAll starts every service; when one fails to start, it stops those
// it started.
func (s *session) startAll() error {
	for _, svc := range s.plan {
		p, err := s.sup.Start(fleet.ProcSpec{Name: svc.Name, Path: svc.Binary, Dir: s.root, Env: svc.Env})
		if err != nil {
			_ = fleet.Stop(s.sup, s.opts, s.out)
			return err
		}
		s.procs[svc.Name] = p
		s.out.Infof("started %s (pid %d): gRPC %s, HTTP %s", svc.Name, p.Pid(), svc.GRPCAddr, svc.HTTPAddr)
	}
	return nil
}

// announce shows where the services are, once all of them serve.
func (s *session) announce(readyAt map[string]time.Time, startAt time.Time, buildTook time.Duration) {
	s.out.Block(readyTable(s.plan, s.procs, readyAt, startAt, buildTook, s.opts.NoBuild, s.getenv))
	if s.opts.ConsolePort != 0 {
		s.out.Infof("%s", consoleSummary(s.opts))
	}
	if s.certs != nil {
		s.out.Block(tlsSummary(s.root, s.certs, s.plan))
	}
}

// startReload learns the package graph and returns the reloader and the
// batches of changes it takes; both nil when hot reload is off.
func (s *session) startReload(ctx context.Context, watch *rebuild.Watch, builtFrom time.Time) (*rebuild.Reloader, <-chan []rebuild.Change) {
	if watch == nil {
		return nil, nil
	}
	reload, err := watch.StartReload(ctx, s.names, s.plan, s.procs, s.sup, builtFrom)
	if err != nil {
		watch.Stop()
		s.out.Infof("hot reload is off: %v", err)
		return nil, nil
	}
	return reload, watch.Batches()
}

// serve runs until ctx ends, then stops the services. Without hot reload
// (reload nil) a service that dies ends dev; with it, the others keep
// running and the next change that affects it starts it again.
func (s *session) serve(ctx context.Context, reload *rebuild.Reloader, batches <-chan []rebuild.Change) error {
	for {
		select {
		case <-ctx.Done():
			s.out.Infof("stopping %d service(s): SIGTERM, SIGKILL after %s", len(s.sup.Running()), s.opts.StopTimeout)
			return fleet.Stop(s.sup, s.opts, s.out)
		case e := <-s.sup.Exited():
			if reload == nil {
				s.out.Infof("%s exited on its own after %s: %s", e.Name, report.Seconds(e.Uptime), e.Describe())
				fleet.ShowTail(s.out, s.procs[e.Name])
				_ = fleet.Stop(s.sup, s.opts, s.out)
				return fmt.Errorf("%s exited unexpectedly: %s", e.Name, e.Describe())
			}
			if reload.OwnExit(e.Name) {
				continue
			}
			s.out.Infof("%s exited on its own after %s: %s", e.Name, report.Seconds(e.Uptime), e.Describe())
			fleet.ShowTail(s.out, reload.Process(e.Name))
			s.out.Infof("the other services keep running; save a fix and dev rebuilds and restarts %s", e.Name)
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
