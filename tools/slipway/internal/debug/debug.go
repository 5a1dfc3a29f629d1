package debug

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Debug builds, kept equal to GO_DEBUG_GCFLAGS and VERSION_VAR in
// deploy/docker/buildflags.mk (a test compares them) so that `slipway debug`
// builds the service as the Dockerfile's debug target does.
const (
	gcFlags    = "all=-N -l"
	versionVar = "github.com/slipway-dev/slipway/platform/buildinfo.Version"
)

// DefaultListen is where dlv listens; .vscode/launch.json attaches there.
const DefaultListen = "127.0.0.1:2345"

// vscodeAttachConfig is the .vscode/launch.json configuration that attaches
// to the dlv of `slipway debug` on 127.0.0.1:2345.
const vscodeAttachConfig = "attach: local dlv :2345 (slipway debug)"

// brokerServices are the services whose config reads NATS_URL.
var brokerServices = []string{"order", "inventory", "notification"}

// Options are the inputs of Run.
type Options struct {
	Service     string
	Listen      string   // dlv's address
	DAP         bool     // run `dlv dap` (one session, the client launches) instead of a headless server
	Args        []string // the service's own arguments (headless only)
	Root        string   // workspace root; "" walks up from Dir to go.work
	Dir         string   // where that walk starts; "" is the working directory
	Output      string   // where dlv writes the debug binary; "" is .slipway/bin/<svc>.debug
	Host        string   // the service's listen host
	GRPCBase    int      // as in dev: the service gets the same addresses and peers
	HTTPBase    int
	StopTimeout time.Duration // between SIGTERM to dlv and SIGKILL
	Color       string
	Stdout      io.Writer
	Environ     []string        // parent environment; nil is os.Environ()
	Force       <-chan struct{} // closed: stop waiting for dlv to exit
}

func (o Options) withDefaults() Options {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.GRPCBase == 0 {
		o.GRPCBase = workspace.DefaultGRPCBase
	}
	if o.HTTPBase == 0 {
		o.HTTPBase = workspace.DefaultHTTPBase
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.Color == "" {
		o.Color = "auto"
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	return o
}

func (o Options) validate() error {
	if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == o.Service }) {
		return fmt.Errorf("unknown service %q (known: %s)", o.Service, strings.Join(workspace.Names(workspace.Known), ", "))
	}
	if _, err := workspace.DialAddr(o.Listen); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if o.DAP && len(o.Args) > 0 {
		return errors.New("--dap takes no service arguments: the editor's launch request carries them (\"args\")")
	}
	return fleet.Options{GRPCBase: o.GRPCBase, HTTPBase: o.HTTPBase, Color: o.Color}.Validate()
}

func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "debug", "<svc> [--listen 127.0.0.1:2345] [--dap] [-- service args]",
		"Runs one service from source under Delve (dlv, pinned as a Go tool), with the environment\n"+
			"`slipway dev` gives it (SQLite under .slipway/data, dev keys, peer addresses, its usual\n"+
			"ports) and an embedded NATS JetStream for order, inventory and notification unless NATS_URL\n"+
			"is set. It builds nothing itself: dlv builds the service with optimisations and inlining\n"+
			"off (the flags of the Dockerfile's debug target), which takes a while the first time.\n\n"+
			"Default: `dlv debug --headless --accept-multiclient --continue`. The service runs at once;\n"+
			"any number of clients attach and detach while it runs, over JSON-RPC (dlv connect, GoLand)\n"+
			"or DAP (VS Code's \"remote\" attach in .vscode/launch.json:\n"+
			"\""+vscodeAttachConfig+"\").\n\n"+
			"--dap: `dlv dap` instead, for editors that launch the program through DAP themselves. It\n"+
			"serves a single session: it builds and starts the service only when the client sends its\n"+
			"launch request (program, buildFlags, args come from the client), and exits when that session\n"+
			"ends. The service inherits this environment.\n\n"+
			"Ctrl-C (SIGINT) or SIGTERM stops dlv, which kills the service; a second one kills dlv at\n"+
			"once (the service may then outlive it; slipway says so). Exit status 0 when dlv stopped on request or ended cleanly, 1 when it failed (the\n"+
			"message gives dlv's own exit code), 2 for a usage error.\n\n"+
			"Run the other services with `slipway dev --services user,order` (the service under the\n"+
			"debugger keeps its usual ports, so the fleet finds it); to share dev's broker, set NATS_URL\n"+
			"to the address dev prints.")
	opts := Options{Stdout: env.Stdout, Environ: env.Environ, Force: env.Force}
	fs.StringVar(&opts.Listen, "listen", DefaultListen, "`address` dlv listens on for debugger clients")
	fs.BoolVar(&opts.DAP, "dap", false, "run dlv dap (one DAP session; the client launches the service) instead of a headless server")
	fs.StringVar(&opts.Host, "host", "127.0.0.1", "`host` the service listens on")
	fs.IntVar(&opts.GRPCBase, "grpc-port-base", workspace.DefaultGRPCBase, "gRPC `port` of user, as in slipway dev; the service's port follows from it")
	fs.IntVar(&opts.HTTPBase, "http-port-base", workspace.DefaultHTTPBase, "HTTP `port` of user, as in slipway dev; the service's port follows from it")
	fs.DurationVar(&opts.StopTimeout, "stop-timeout", 10*time.Second, "how long dlv has to exit after SIGTERM before SIGKILL")
	fs.StringVar(&opts.Color, "color", "auto", "`when` to colour the prefixes: auto, always or never")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")

	services, rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch len(services) {
	case 0:
		return cli.UsageErrorf("name the service to debug (%s); slipway help debug shows the flags", strings.Join(workspace.Names(workspace.Known), ", "))
	case 1:
		opts.Service = services[0]
	default:
		return cli.UsageErrorf("debug runs one service, got %q", services)
	}
	opts.Args = rest
	if err := opts.withDefaults().validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	return Run(ctx, opts)
}

// parseArgs parses flags placed before or after the service name and
// returns the positional arguments and everything after "--" (the service's
// own arguments), which is never parsed.
func parseArgs(fs *flag.FlagSet, args []string) (positional, rest []string, err error) {
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], slices.Clone(args[i+1:])
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, err
			}
			return nil, nil, cli.UsageError{Err: fmt.Errorf("%w: %w", cli.ErrFlagParse, err)}
		}
		left := fs.Args()
		if len(left) == 0 {
			return positional, rest, nil
		}
		positional = append(positional, left[0])
		args = left[1:]
	}
}

// Plan is what Run starts.
type Plan struct {
	Service fleet.Service // addresses and environment, as dev would run it
	Args    []string      // arguments of the go command: tool dlv ...
	Attach  string        // address a debugger client dials
	Build   string        // go build flags of the debug build, as dlv's --build-flags takes them
	Broker  bool          // the service needs NATS and the environment has none
}

// newPlan works out the dlv command line and the service's environment.
func newPlan(root string, opts Options, version string) (Plan, error) {
	var def workspace.Service
	for _, d := range workspace.Known {
		if d.Name == opts.Service {
			def = d
		}
	}
	dev := fleet.Options{Host: opts.Host, GRPCBase: opts.GRPCBase, HTTPBase: opts.HTTPBase, Environ: opts.Environ}
	plan, err := fleet.Plan(root, []workspace.Service{def}, dev.WithDefaults())
	if err != nil {
		return Plan{}, err
	}
	attach, err := workspace.DialAddr(opts.Listen)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Service: plan[0], Attach: attach, Build: buildFlags(version)}
	if _, set := envvar.Lookup(opts.Environ, "NATS_URL"); !set && slices.Contains(brokerServices, opts.Service) {
		p.Broker = true
	}
	if opts.DAP {
		p.Args = []string{"tool", "dlv", "dap", "--listen=" + opts.Listen}
		return p, nil
	}
	output := opts.Output
	if output == "" {
		output = filepath.Join(root, ".slipway", "bin", opts.Service+".debug")
	}
	p.Args = []string{
		"tool", "dlv", "debug", "./" + filepath.ToSlash(workspace.MainDir(opts.Service)),
		"--headless", "--listen=" + opts.Listen, "--api-version=2", "--accept-multiclient", "--continue",
		"--output=" + output,
		"--build-flags=" + p.Build,
	}
	if len(opts.Args) > 0 {
		p.Args = append(append(p.Args, "--"), opts.Args...)
	}
	return p, nil
}

// buildFlags are the go build flags of a debug build, quoted the way
// dlv splits --build-flags (single quotes).
func buildFlags(version string) string {
	return fmt.Sprintf("-gcflags='%s' -ldflags='-X %s=%s'", gcFlags, versionVar, version)
}

// workspaceVersion is what buildflags.mk calls VERSION: git describe, or dev.
func workspaceVersion(ctx context.Context, root string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--tags", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" && !strings.ContainsAny(v, "' ") {
		return v
	}
	return "dev"
}

// Run runs one service under dlv until dlv ends or ctx is cancelled;
// then it stops dlv (SIGTERM, which makes dlv kill the service) and returns
// nil for a requested or clean stop.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	root, err := workspace.Resolve(opts.Root, opts.Dir)
	if err != nil {
		return err
	}
	if _, err := workspace.Select(root, []string{opts.Service}); err != nil {
		return err
	}
	plan, err := newPlan(root, opts, workspaceVersion(ctx, root))
	if err != nil {
		return err
	}
	svc := plan.Service
	getenv := func(k string) string { v, _ := envvar.Lookup(opts.Environ, k); return v }
	listening := newLineWatch(opts.Stdout, "server listening at: ")
	out := fleet.NewConsole(listening, fleet.ColorEnabled(opts.Color, opts.Stdout, getenv), svc.Name)

	eps := append(fleet.Endpoints([]fleet.Service{svc}, fleet.Options{}), workspace.Endpoint{Service: "dlv", Kind: "debugger", Addr: opts.Listen})
	if err := workspace.CheckPortsFree(eps); err != nil {
		return fmt.Errorf("%w\nstop what holds the port (lsof -i :PORT), or move dlv with --listen and the service with --grpc-port-base / --http-port-base", err)
	}
	for _, dir := range []string{"bin", "data", "keys", "nats"} {
		if err := os.MkdirAll(filepath.Join(root, ".slipway", dir), 0o700); err != nil {
			return err
		}
	}
	env := svc.Env
	if plan.Broker {
		b, err := fleet.StartBroker(root, opts.Host, 0)
		if err != nil {
			return fmt.Errorf("%w (if slipway dev is running, set NATS_URL to its broker)", err)
		}
		defer b.Stop()
		env = envvar.Set(env, "NATS_URL", b.URL())
		out.Infof("embedded NATS JetStream at %s (data in .slipway/nats)", b.URL())
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}

	out.Infof("workspace %s: go %s", root, strings.Join(plan.Args, " "))
	if opts.DAP {
		out.Infof("starting dlv dap for %s", svc.Name)
	} else {
		out.Infof("dlv builds %s without optimisations, then runs it (the first build takes a while)", svc.Name)
	}
	sup := fleet.NewSupervisor(out)
	p, err := sup.Start(fleet.ProcSpec{Name: svc.Name, Path: goBin, Args: plan.Args, Dir: root, Env: env})
	if err != nil {
		return err
	}
	started := time.Now()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	listened := listening.Found()
	serving := make(chan fleet.Readiness, 1)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	for {
		select {
		case <-listened:
			listened = nil
			progress.Stop()
			out.Block(attachHelp(plan, opts, time.Since(started)))
			if !opts.DAP {
				go func() { serving <- fleet.PollServing(pollCtx, svc.GRPCDial, svc.ClientTLS) }()
			}
		case r := <-serving:
			if r.Err == nil {
				out.Infof("%s SERVING: gRPC %s, HTTP %s (%s after start)", svc.Name, svc.GRPCDial, svc.HTTPDial, report.Seconds(r.At.Sub(started)))
			}
		case <-progress.C:
			out.Infof("still building %s (%s)", svc.Name, report.Seconds(time.Since(started)))
		case <-ctx.Done():
			out.Infof("stopping dlv (SIGTERM; SIGKILL after %s)", opts.StopTimeout)
			e := sup.Stop(p, opts.StopTimeout, opts.Force)
			if e.Killed && !opts.DAP && answers(svc.GRPCDial) {
				// dlv kills what it launched only when it stops cleanly.
				out.Infof("%s outlived the killed dlv and still answers on %s: stop it (lsof -i :%s)", svc.Name, svc.GRPCDial, portOf(svc.GRPCDial))
			}
			return exitResult(e, out)
		case <-p.Done():
			return exitResult(p.Exit(), out)
		}
	}
}

// exitResult reports how dlv ended and turns it into Run's result.
func exitResult(e fleet.ProcExit, out *fleet.Console) error {
	switch {
	case e.Requested && !e.Killed && e.Err == nil:
		// Stopped on request: dlv's status reflects the signal, not a failure.
		out.Infof("dlv stopped in %s", report.Seconds(e.StopTook))
		return nil
	case e.Clean():
		out.Infof("dlv exited")
		return nil
	}
	return fmt.Errorf("dlv ended: %s", e.Describe())
}

// attachHelp says where dlv listens and how to attach to it.
func attachHelp(plan Plan, opts Options, took time.Duration) string {
	var b strings.Builder
	svc := plan.Service
	host, port, _ := net.SplitHostPort(plan.Attach)
	if opts.DAP {
		fmt.Fprintf(&b, "\ndlv dap is listening on %s (after %s): one DAP session; dlv builds and starts %s\n", plan.Attach, report.Seconds(took), svc.Name)
		fmt.Fprintf(&b, "when the client sends its launch request, and exits when the session ends. In VS Code, a\n")
		fmt.Fprintf(&b, "launch configuration with \"port\" connects to this server:\n\n")
		fmt.Fprintf(&b, "  {\"name\": \"%s via dlv dap\", \"type\": \"go\", \"request\": \"launch\", \"mode\": \"debug\",\n", svc.Name)
		fmt.Fprintf(&b, "   \"program\": \"${workspaceFolder}/%s\", \"cwd\": \"${workspaceFolder}\",\n", filepath.ToSlash(workspace.MainDir(svc.Name)))
		fmt.Fprintf(&b, "   \"buildFlags\": %s, \"host\": %q, \"port\": %s}\n\n", strconv.Quote(plan.Build), host, port)
		fmt.Fprintf(&b, "%s gets this environment (gRPC %s, HTTP %s, DATABASE_URL %s); a launch \"env\" adds to it.\n",
			svc.Name, svc.GRPCAddr, svc.HTTPAddr, fleet.URLScheme(fleet.EnvValue(svc.Env, "DATABASE_URL")))
		fmt.Fprintf(&b, "Ctrl-C stops dlv.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "\ndlv is listening on %s (built in %s): headless, several clients at once, %s running.\n", plan.Attach, report.Seconds(took), svc.Name)
	fmt.Fprintf(&b, "attach with:\n")
	if port == "2345" {
		fmt.Fprintf(&b, "  VS Code   Run and Debug: %q (.vscode/launch.json)\n", vscodeAttachConfig)
	} else {
		fmt.Fprintf(&b, "  VS Code   Run and Debug: %q with \"port\": %s (.vscode/launch.json)\n", vscodeAttachConfig, port)
	}
	fmt.Fprintf(&b, "  terminal  go tool dlv connect %s\n", plan.Attach)
	fmt.Fprintf(&b, "  GoLand    Run > Edit Configurations > Go Remote, %s\n", plan.Attach)
	fmt.Fprintf(&b, "%s listens on gRPC %s and HTTP %s. Ctrl-C stops dlv and %s.\n", svc.Name, svc.GRPCDial, svc.HTTPDial, svc.Name)
	return b.String()
}

// answers reports whether something accepts TCP connections on addr.
func answers(addr string) bool {
	c, err := (&net.Dialer{Timeout: 500 * time.Millisecond}).Dial("tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// lineWatch passes writes through to w and reports when one contains needle.
// The console writes whole lines, so a needle never straddles two writes.
type lineWatch struct {
	w      io.Writer
	needle []byte
	once   sync.Once
	found  chan struct{}
}

func newLineWatch(w io.Writer, needle string) *lineWatch {
	return &lineWatch{w: w, needle: []byte(needle), found: make(chan struct{})}
}

func (l *lineWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, l.needle) {
		l.once.Do(func() { close(l.found) })
	}
	return l.w.Write(p)
}

// Found is closed once a write contained the needle.
func (l *lineWatch) Found() <-chan struct{} { return l.found }
