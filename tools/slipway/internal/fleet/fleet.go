// Package fleet builds and runs the services of the workspace the way slipway
// dev does: their plan (addresses and environment), builds, supervised
// processes with a prefixed log stream, the embedded NATS broker, and waiting
// until every one answers SERVING.
package fleet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/grpchealth"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Options are the inputs of runDev.
type Options struct {
	Root             string         // workspace root; "" walks up from Dir to go.work
	Dir              string         // where that walk starts; "" is the working directory
	Services         []string       // services to run; empty runs every one that exists
	Replicas         map[string]int // instances of a service (missing: 1); see ParseReplicas
	Host             string         // listen host
	GRPCBase         int            // gRPC port of user; order, inventory, notification follow
	HTTPBase         int            // HTTP port of user; the others follow
	NATSPort         int            // embedded NATS port; 0 picks a free one
	ConsolePort      int            // the console's port on Host; 0 runs no console
	ConsoleMaxTraces int            // bound of the console's trace store in traces; 0 is the default
	ConsoleMaxSpans  int            // and in spans
	ConsoleMaxBytes  int64          // and in approximate bytes
	NoBuild          bool           // run the binaries already in .slipway/bin
	TLS              bool           // TLS and mTLS everywhere, with the dev CA under .slipway/tls
	Postgres         string         // PostgreSQL server URL: each service runs on its own database there, created when missing
	PostgresPrefix   string         // database name prefix under Postgres; "" is slipway_
	ReadyTimeout     time.Duration  // for every service to answer SERVING
	StopTimeout      time.Duration  // between SIGTERM and SIGKILL
	Color            string         // auto, always or never
	NoWatch          bool           // no hot reload (it is off with NoBuild as well)
	Debounce         time.Duration  // hot reload waits for the tree to be quiet this long
	Stdout           io.Writer
	Environ          []string           // parent environment; nil is os.Environ()
	Force            <-chan struct{}    // closed: stop waiting for graceful exits
	OnWatch          func()             // called once hot reload is ready to rebuild (bench, tests)
	AfterBuild       func()             // called once the first build is done, before the services start (tests)
	OnReload         func(ReloadReport) // called after every service reload, failed or not
}

// WithDefaults fills every option left at its zero value with dev's default.
func (o Options) WithDefaults() Options {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.GRPCBase == 0 {
		o.GRPCBase = workspace.DefaultGRPCBase
	}
	if o.HTTPBase == 0 {
		o.HTTPBase = workspace.DefaultHTTPBase
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 15 * time.Second
	}
	if o.Color == "" {
		o.Color = "auto"
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.PostgresPrefix == "" {
		o.PostgresPrefix = DefaultDatabasePrefix
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	return o
}

// Service is one instance of a service as dev runs it; a service runs as
// one instance unless Options.Replicas says more.
type Service struct {
	Name      string // the service, or with replicas the instance (order-1, order-2)
	Of        string // the service Name is an instance of (Name itself without replicas)
	GRPCAddr  string // listen address
	HTTPAddr  string
	GRPCDial  string // address a client dials (wildcard host replaced)
	HTTPDial  string
	Binary    string
	Env       []string
	Scheme    string      // of the HTTP port: http, or https under --tls
	ClientTLS *tls.Config // how dev calls the service: nil is plaintext
}

// HTTPURL is the base URL of the service's HTTP port.
func (s Service) HTTPURL() string { return s.Scheme + "://" + s.HTTPDial }

// DocsURL is where the service's API documentation is served.
func (s Service) DocsURL() string { return s.HTTPURL() + "/docs" }

// Plan works out the addresses and environment of every service.
func Plan(root string, defs []workspace.Service, opts Options) ([]Service, error) {
	user := workspace.Known[0]
	jwksHost, err := workspace.DialAddr(net.JoinHostPort(opts.Host, strconv.Itoa(opts.HTTPBase+user.HTTPPort-workspace.DefaultHTTPBase)))
	if err != nil {
		return nil, err
	}
	// Peers are dialled by gRPC address whether or not they run in this dev
	// session, so a service started alone still knows where the others live.
	// A service with replicas is dialled at every instance (host:port,...).
	selected := workspace.Names(defs)
	peers := map[string]string{}
	for _, d := range workspace.Known {
		n := 1
		if slices.Contains(selected, d.Name) {
			n = opts.instancesOf(d.Name)
		}
		var addrs []string
		for k := range n {
			addr, err := workspace.DialAddr(net.JoinHostPort(opts.Host, strconv.Itoa(instancePort(opts.GRPCBase, d.GRPCPort, workspace.DefaultGRPCBase, k))))
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, addr)
		}
		peers[d.Name] = strings.Join(addrs, ",")
	}
	secret, err := Secret()
	if err != nil {
		return nil, err
	}
	consoleDefaults, consoleFixed, err := consoleEnv(opts)
	if err != nil {
		return nil, err
	}
	plan := make([]Service, 0, len(defs))
	for _, d := range defs {
		n := opts.instancesOf(d.Name)
		for k := range n {
			s, err := planInstance(root, d, k, n, opts, jwksHost, peers, secret, consoleDefaults, consoleFixed)
			if err != nil {
				return nil, err
			}
			plan = append(plan, s)
		}
	}
	return plan, nil
}

// instancePort is the port of instance k (from 0) of a service whose port
// is registered as registered under the registry's base, when dev's base is base.
func instancePort(base, registered, registryBase, k int) int {
	return base + registered - registryBase + k*ReplicaPortStride
}

// planInstance plans instance k (from 0) of n of the service d.
func planInstance(root string, d workspace.Service, k, n int, opts Options, jwksHost string, peers map[string]string, secret string, consoleDefaults, consoleFixed []envvar.Var) (Service, error) {
	s := Service{
		Name:     InstanceName(d.Name, k+1, n),
		Of:       d.Name,
		GRPCAddr: net.JoinHostPort(opts.Host, strconv.Itoa(instancePort(opts.GRPCBase, d.GRPCPort, workspace.DefaultGRPCBase, k))),
		HTTPAddr: net.JoinHostPort(opts.Host, strconv.Itoa(instancePort(opts.HTTPBase, d.HTTPPort, workspace.DefaultHTTPBase, k))),
		Binary:   workspace.BinaryPath(root, d.Name),
		Scheme:   opts.HTTPScheme(),
	}
	var err error
	if s.GRPCDial, err = workspace.DialAddr(s.GRPCAddr); err != nil {
		return Service{}, err
	}
	if s.HTTPDial, err = workspace.DialAddr(s.HTTPAddr); err != nil {
		return Service{}, err
	}
	defaults := append(devDefaults(root, d.Name, jwksHost, peers, secret), consoleDefaults...)
	fixed := append([]envvar.Var{{Key: "GRPC_ADDR", Value: s.GRPCAddr}, {Key: "HTTP_ADDR", Value: s.HTTPAddr}}, consoleFixed...)
	if opts.Postgres != "" {
		db, err := ServiceDatabaseURL(opts.Postgres, opts.PostgresPrefix, d.Name)
		if err != nil {
			return Service{}, err
		}
		fixed = append(fixed, envvar.Var{Key: "DATABASE_URL", Value: db})
	}
	if opts.TLS {
		defaults = envvar.Replace(defaults, "AUTH_JWKS_URL", "https://"+jwksHost+"/.well-known/jwks.json")
		fixed = append(fixed, tlsEnv(root, d.Name)...)
	}
	env := withConsoleOrigins(envvar.ForService(opts.Environ, d.Name, defaults, fixed), opts)
	s.Env = OwnSecretsOnly(env, d.Name, opts.TLS)
	return s, nil
}

// devDefaults are the embedded-default settings of one service, used when
// the parent environment does not set them.
//
// The order service calls inventory and payment with a service account
// that the user service creates from SERVICE_ACCOUNTS; dev makes its
// password afresh on every run (secret), so nothing reusable is written
// anywhere. Both peers check its token against the user service's key set
// (AUTH_JWKS_URL), as every service does.
func devDefaults(root, svc, jwksHost string, peers map[string]string, secret string) []envvar.Var {
	state := filepath.ToSlash(filepath.Join(root, ".slipway"))
	return []envvar.Var{
		{Key: "DATABASE_URL", Value: "sqlite://" + state + "/data/" + svc + ".db"},
		{Key: "DRAIN_DELAY", Value: "0s"},
		{Key: "AUTH_JWKS_URL", Value: "http://" + jwksHost + "/.well-known/jwks.json"},
		{Key: "AUTH_SIGNING_KEY_FILE", Value: state + "/keys/user-ed25519.pem"},
		{Key: "ADMIN_EMAIL", Value: workspace.DevAdminEmail},
		{Key: "ADMIN_PASSWORD", Value: workspace.DevAdminPassword},
		{Key: "CONFIG_FINGERPRINT_KEY", Value: workspace.FingerprintKey(root)}, // one key for every service: drift compares their fingerprints
		{Key: "SERVICE_ACCOUNTS", Value: "order:" + secret},
		{Key: "SERVICE_ACCOUNT_PASSWORD", Value: secret},
		{Key: "USER_ADDR", Value: peers["user"]},
		{Key: "INVENTORY_ADDR", Value: peers["inventory"]},
		{Key: "PAYMENT_ADDR", Value: peers["payment"]},
	}
}

// Secret is a random password for the dev session's service account.
func Secret() (string, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("service account secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ErrInterrupted reports that ctx was cancelled while waiting.
var ErrInterrupted = errors.New("interrupted")

// WaitReady polls every service's gRPC health until all answer SERVING
// and returns when each did. It fails when a service exits first, or does
// not answer SERVING within the ready timeout, showing its last log lines.
func WaitReady(ctx context.Context, sup *Supervisor, plan []Service, procs map[string]*Process, opts Options, out *Console) (map[string]time.Time, error) {
	readyCtx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()

	type result struct {
		svc Service
		Readiness
	}
	results := make(chan result, len(plan))
	for _, s := range plan {
		go func() { results <- result{s, PollServing(readyCtx, s.GRPCDial, s.ClientTLS)} }()
	}

	readyAt := make(map[string]time.Time, len(plan))
	var late []result
	for range plan {
		select {
		case r := <-results:
			if r.Err != nil {
				late = append(late, r)
				continue
			}
			readyAt[r.svc.Name] = r.At
		case e := <-sup.Exited():
			cancel()
			out.Infof("%s exited before it was SERVING, after %s: %s", e.Name, report.Seconds(e.Uptime), e.Describe())
			ShowTail(out, procs[e.Name])
			return nil, fmt.Errorf("%s exited before it was ready: %s", e.Name, e.Describe())
		}
	}
	if ctx.Err() != nil {
		out.Infof("interrupted while waiting for the services to be ready")
		return nil, ErrInterrupted
	}
	if len(late) > 0 {
		var names []string
		for _, r := range late {
			names = append(names, r.svc.Name)
			out.Infof("%s did not answer SERVING on %s within %s (last: %v)", r.svc.Name, r.svc.GRPCDial, opts.ReadyTimeout, r.Err)
			ShowTail(out, procs[r.svc.Name])
		}
		return nil, fmt.Errorf("not SERVING within %s: %s", opts.ReadyTimeout, strings.Join(names, ", "))
	}
	return readyAt, nil
}

// Readiness is the outcome of PollServing.
type Readiness struct {
	At  time.Time // when SERVING was first seen
	Err error     // why not, when ctx ended first: the last status or error
}

// Poll intervals: the start-to-SERVING target is 0.3 s, so the cap bounds
// how much the reported time can overshoot.
const (
	pollFirstDelay = 5 * time.Millisecond
	pollMaxDelay   = 25 * time.Millisecond
	pollCallLimit  = time.Second
)

// PollServing asks addr's gRPC health over and over, with a short backoff,
// until it answers SERVING or ctx ends. With tlsConf it calls over TLS.
func PollServing(ctx context.Context, addr string, tlsConf *tls.Config) Readiness {
	delay := pollFirstDelay
	last := errors.New("not asked yet")
	for {
		call, cancel := context.WithTimeout(ctx, pollCallLimit)
		st, err := grpchealth.Check(call, addr, "", tlsConf)
		cancel()
		if err == nil && st == "SERVING" {
			return Readiness{At: time.Now()}
		}
		if ctx.Err() == nil {
			if err == nil {
				last = fmt.Errorf("health status %s", st)
			} else {
				last = fmt.Errorf("%s: %w", st, err)
			}
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Readiness{Err: last}
		case <-timer.C:
		}
		delay = min(2*delay, pollMaxDelay)
	}
}

// ShowTail prints the last lines p wrote, to explain a failure.
func ShowTail(out *Console, p *Process) {
	if p == nil {
		return
	}
	lines := p.Tail()
	if len(lines) == 0 {
		out.Infof("%s wrote nothing", p.Name())
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "last %d line(s) of %s:\n", len(lines), p.Name())
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	out.Block(b.String())
}

// Stop stops every running service and reports each exit. It returns
// an error naming the services that did not exit cleanly.
func Stop(sup *Supervisor, opts Options, out *Console) error {
	exits := sup.StopAll(opts.StopTimeout, opts.Force)
	// A service that exited on its own meanwhile is reported as well.
	for more := true; more; {
		select {
		case e := <-sup.Exited():
			exits = append(exits, e)
		default:
			more = false
		}
	}
	var unclean []string
	for _, e := range exits {
		if e.Requested {
			out.Infof("%s stopped in %s: %s", e.Name, report.Seconds(e.StopTook), e.Describe())
		} else {
			out.Infof("%s had exited on its own: %s", e.Name, e.Describe())
		}
		if !e.Clean() {
			unclean = append(unclean, fmt.Sprintf("%s (%s)", e.Name, e.Describe()))
		}
	}
	if len(unclean) > 0 {
		return fmt.Errorf("did not stop cleanly: %s", strings.Join(unclean, ", "))
	}
	out.Infof("all services stopped")
	return nil
}

// EnvValue is the value of name in a KEY=VALUE environment, the last one winning.
func EnvValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// URLScheme returns only the scheme of a URL, so no password is printed.
func URLScheme(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		return u.Scheme
	}
	return "unrecognised URL"
}

// ReloadReport is the outcome of one service's hot reload.
type ReloadReport struct {
	Service string
	Files   []string      // the changes that caused it, relative to the root
	Total   time.Duration // from the start of the reload to SERVING
	Gen     time.Duration // code generation, when a .proto changed
	Build   time.Duration
	Stop    time.Duration // of the old process
	Ready   time.Duration // from the new process's start to SERVING
	Err     error         // the build failed (the old process still serves), or the new one is not SERVING
}

// BuildBinary runs `go build [flags] -o out ./services/<svc>/cmd/<svc>` in
// root. Hot reload builds to a temporary name and renames it over the
// binary: writing into the executable of a running process fails (text
// file busy).
func BuildBinary(ctx context.Context, goBin, root, svc, out string, environ []string, flags ...string) BuildResult {
	r := BuildResult{Service: svc, Binary: out}
	args := append(append([]string{"build"}, flags...), "-o", out, "./"+filepath.ToSlash(workspace.MainDir(svc)))
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	cmd.Env = environ
	start := time.Now()
	output, err := cmd.CombinedOutput()
	r.Took = time.Since(start)
	r.Output = string(output)
	r.Err = err
	return r
}

// Hot reload timing: an editor's save is several events (write, chmod,
// rename of a temporary file), and `git checkout` is hundreds; dev waits
// until the tree has been quiet this long before it rebuilds.
const (
	DefaultDebounce = 150 * time.Millisecond
	MaxBatchDelay   = 2 * time.Second // a tree that never goes quiet still gets rebuilt
)
