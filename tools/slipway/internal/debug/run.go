package debug

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	getenv := func(k string) string { v, _ := envvar.Lookup(opts.Environ, k); return v }
	listening := newLineWatch(opts.Stdout, "server listening at: ")
	out := fleet.NewConsole(listening, fleet.ColorEnabled(opts.Color, opts.Stdout, getenv), plan.Service.Name)

	env, stopBroker, err := prepare(root, plan, opts, out)
	if err != nil {
		return err
	}
	defer stopBroker()
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	out.Infof("workspace %s: go %s", root, strings.Join(plan.Args, " "))
	if opts.DAP {
		out.Infof("starting dlv dap for %s", plan.Service.Name)
	} else {
		out.Infof("dlv builds %s without optimisations, then runs it (the first build takes a while)", plan.Service.Name)
	}
	sup := fleet.NewSupervisor(out)
	p, err := sup.Start(fleet.ProcSpec{Name: plan.Service.Name, Path: goBin, Args: plan.Args, Dir: root, Env: env})
	if err != nil {
		return err
	}
	return follow(ctx, plan, opts, sup, p, listening.Found(), out)
}

// prepare checks that the ports are free, makes the state directories and
// starts the embedded broker when the service needs one. It returns the
// service's environment and how to stop the broker.
func prepare(root string, plan Plan, opts Options, out *fleet.Console) (env []string, stop func(), err error) {
	eps := append(fleet.Endpoints([]fleet.Service{plan.Service}, fleet.Options{}), workspace.Endpoint{Service: "dlv", Kind: "debugger", Addr: opts.Listen})
	if err := workspace.CheckPortsFree(eps); err != nil {
		return nil, nil, fmt.Errorf("%w\nstop what holds the port (lsof -i :PORT), or move dlv with --listen and the service with --grpc-port-base / --http-port-base", err)
	}
	for _, dir := range []string{"bin", "data", "keys", "nats"} {
		if err := os.MkdirAll(filepath.Join(root, ".slipway", dir), 0o700); err != nil {
			return nil, nil, err
		}
	}
	env = plan.Service.Env
	if !plan.Broker {
		return env, func() {}, nil
	}
	b, err := fleet.StartBroker(root, opts.Host, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (if slipway dev is running, set NATS_URL to its broker)", err)
	}
	out.Infof("embedded NATS JetStream at %s (data in .slipway/nats)", b.URL())
	return envvar.Set(env, "NATS_URL", b.URL()), b.Stop, nil
}

// follow waits for dlv p: it says how to attach once dlv listens, when the
// service serves, and that the build goes on; it stops dlv when ctx ends.
func follow(ctx context.Context, plan Plan, opts Options, sup *fleet.Supervisor, p *fleet.Process, listened <-chan struct{}, out *fleet.Console) error {
	svc := plan.Service
	started := time.Now()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
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
