// Package debug is `slipway debug`: one service under Delve (headless dlv,
// or --dap) with the environment `slipway dev` would give it, for an editor
// to attach to.
package debug

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
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

// Main is `slipway debug <service>`: it parses the flags and runs Run.
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
