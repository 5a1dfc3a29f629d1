package chaos

import (
	"context"
	"errors"
	"fmt"

	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/faultproxy"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scratchdb"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// proxiedFleet is the system an experiment runs against: the four services
// started by the dev runner's supervisor, on fresh databases and a fresh
// JetStream, with a fault proxy in front of every dependency and fault
// injection enabled.
type proxiedFleet struct {
	dir     string // this run's state: data, nats, keys, services.log
	plan    []fleet.Service
	sup     *fleet.Supervisor
	out     *fleet.Console // the services' output, into services.log
	logFile *os.File
	opts    fleet.Options

	mu    sync.Mutex
	procs map[string]*fleet.Process
	// expected counts exits that chaos caused itself, per service.
	expected map[string]int
	restarts map[string]int // how often chaos started each service again

	broker    *fleet.Broker
	natsURL   string // the broker as chaos reaches it, not through the proxy
	proxies   map[string]*faultproxy.Proxy
	databases map[string]database // per service, direct (no proxy)
	dialect   string              // sqlite or postgres
	cleanups  []func()
}

// database is where one service's data lives, as chaos reaches it.
type database struct {
	Dialect string // sqlite or postgres
	DSN     string // for database/sql: a file path (sqlite) or a URL (postgres)
}

// fleetOptions are the inputs of startFleet.
type fleetOptions struct {
	Root         string
	Dir          string   // run state directory, created
	Environ      []string // parent environment
	DatabaseURL  string   // postgres://server: fresh databases there; "" is SQLite
	NATSURL      string   // "" embeds a broker
	RedisURL     string   // "" leaves Redis out (in-memory cache and limiter)
	Env          map[string]map[string]string
	Replicas     map[string]int // instances of a service (missing: 1)
	ReadyTimeout time.Duration
	StopTimeout  time.Duration
	Force        <-chan struct{}
	Progress     func(format string, args ...any)
}

// startFleet starts everything and waits until every service is SERVING.
// On error everything started so far is stopped again.
func startFleet(ctx context.Context, o fleetOptions) (_ *proxiedFleet, err error) {
	f := &proxiedFleet{
		dir: o.Dir, procs: map[string]*fleet.Process{}, expected: map[string]int{}, restarts: map[string]int{},
		proxies: map[string]*faultproxy.Proxy{}, databases: map[string]database{},
	}
	defer func() {
		if err != nil {
			_ = f.Stop() // the start error is the one to report
		}
	}()
	names, err := f.planServices(o)
	if err != nil {
		return nil, err
	}
	natsProxied, err := f.startBroker(ctx, o)
	if err != nil {
		return nil, err
	}
	redisProxied, err := f.proxyStores(o)
	if err != nil {
		return nil, err
	}
	if err := f.wireServices(ctx, o, natsProxied, redisProxied); err != nil {
		return nil, err
	}
	if err := f.startServices(ctx, o, names); err != nil {
		return nil, err
	}
	return f, nil
}

// planServices prepares the run's directory and log and plans every
// service of the workspace on free ports; it returns their names.
func (f *proxiedFleet) planServices(o fleetOptions) ([]string, error) {
	var err error
	for _, d := range []string{"data", "keys"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if f.logFile, err = os.Create(filepath.Join(o.Dir, "services.log")); err != nil {
		return nil, err
	}
	defs, err := workspace.Select(o.Root, nil)
	if err != nil {
		return nil, err
	}
	names := workspace.Names(defs)
	f.out = fleet.NewConsole(f.logFile, false, names...)
	f.sup = fleet.NewSupervisor(f.out)

	// Instance k of a service listens ReplicaPortStride·(k-1) above the
	// first: the block spans every instance's ports.
	block := len(workspace.Known)
	for _, n := range o.Replicas {
		block = max(block, len(workspace.Known)+(n-1)*fleet.ReplicaPortStride)
	}
	grpcBase, err := workspace.FreePortBlock(block, nil)
	if err != nil {
		return nil, err
	}
	httpBase, err := workspace.FreePortBlock(block, []int{grpcBase})
	if err != nil {
		return nil, err
	}
	f.opts = fleet.Options{
		Root: o.Root, Host: "127.0.0.1", GRPCBase: grpcBase, HTTPBase: httpBase, Replicas: o.Replicas,
		ReadyTimeout: o.ReadyTimeout, StopTimeout: o.StopTimeout, Force: o.Force, Environ: o.Environ,
	}.WithDefaults()
	if f.plan, err = fleet.Plan(o.Root, defs, f.opts); err != nil {
		return nil, err
	}
	return names, nil
}

// startBroker starts the embedded broker (or checks that the given one
// holds no events) and returns its address through the fault proxy.
func (f *proxiedFleet) startBroker(ctx context.Context, o fleetOptions) (string, error) {
	var err error
	// The broker: embedded in a directory of this run, so the stream holds
	// this run's events only.
	upstreamNATS := o.NATSURL
	if upstreamNATS == "" {
		if f.broker, err = fleet.StartBroker(o.Dir, "127.0.0.1", 0); err != nil {
			return "", err
		}
		upstreamNATS = f.broker.URL()
		o.Progress("embedded NATS JetStream at %s", upstreamNATS)
	} else if err := freshBroker(ctx, upstreamNATS); err != nil {
		return "", err
	}
	f.natsURL = upstreamNATS
	return f.proxy(depNATS, upstreamNATS)
}

// proxyStores puts the fault proxy in front of PostgreSQL and Redis when
// the run uses them; it returns Redis' address through the proxy ("" without).
func (f *proxiedFleet) proxyStores(o fleetOptions) (string, error) {
	f.dialect = "sqlite"
	if o.DatabaseURL != "" {
		f.dialect = "postgres"
		if _, err := f.proxy(depPostgres, o.DatabaseURL); err != nil {
			return "", err
		}
	}
	if o.RedisURL == "" {
		return "", nil
	}
	return f.proxy(depRedis, o.RedisURL)
}

// wireServices gives every service a fresh database (behind the proxy on
// PostgreSQL), which all its instances share, the proxied broker and
// Redis, and the experiment's env.
func (f *proxiedFleet) wireServices(ctx context.Context, o fleetOptions, natsProxied, redisProxied string) error {
	dbURLs := map[string]string{}
	for i := range f.plan {
		s := &f.plan[i]
		dbURL, ok := dbURLs[s.Of]
		switch {
		case ok:
		case o.DatabaseURL != "":
			direct, drop, err := scratchdb.Create(ctx, o.DatabaseURL, "slipway_chaos_"+s.Of)
			if err != nil {
				return fmt.Errorf("%s: %w", report.RedactURL(o.DatabaseURL), err)
			}
			f.cleanups = append(f.cleanups, drop)
			f.databases[s.Of] = database{Dialect: "postgres", DSN: direct}
			if dbURL, err = viaProxy(direct, f.proxies[depPostgres].Addr()); err != nil {
				return err
			}
		default:
			path := filepath.ToSlash(filepath.Join(o.Dir, "data", s.Of+".db"))
			f.databases[s.Of] = database{Dialect: "sqlite", DSN: path}
			dbURL = "sqlite://" + path
		}
		dbURLs[s.Of] = dbURL
		s.Env = envvar.Set(s.Env, "DATABASE_URL", dbURL)
		s.Env = envvar.Set(s.Env, "NATS_URL", natsProxied)
		s.Env = envvar.Set(s.Env, "FAULTS_ENABLED", "true")
		s.Env = envvar.Set(s.Env, "AUTH_SIGNING_KEY_FILE", filepath.ToSlash(filepath.Join(o.Dir, "keys", "user-ed25519.pem")))
		if redisProxied != "" {
			s.Env = envvar.Set(s.Env, "REDIS_URL", redisProxied)
		}
		for k, v := range o.Env[s.Of] {
			s.Env = envvar.Set(s.Env, k, v)
		}
	}

	return nil
}

// startServices starts the planned services and waits until all are SERVING.
func (f *proxiedFleet) startServices(ctx context.Context, o fleetOptions, names []string) error {
	o.Progress("starting %s (logs in %s)", strings.Join(names, ", "), f.logFile.Name())
	for _, s := range f.plan {
		p, err := f.sup.Start(f.spec(s))
		if err != nil {
			return err
		}
		f.procs[s.Name] = p
	}
	if _, err := fleet.WaitReady(ctx, f.sup, f.plan, f.procs, f.opts, f.out); err != nil {
		return fmt.Errorf("%w (service logs: %s)", err, f.logFile.Name())
	}
	return nil
}

// proxy starts the fault proxy of dep in front of rawURL's host and returns
// rawURL pointed at the proxy.
func (f *proxiedFleet) proxy(dep, rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%s URL %q: want scheme://host:port", dep, report.RedactURL(rawURL))
	}
	if _, err := loadgen.LoopbackHost(u.Hostname()); err != nil {
		return "", fmt.Errorf("%s at %s: chaos only disturbs dependencies on this machine: %w", dep, u.Host, err)
	}
	upstream := u.Host
	if u.Port() == "" {
		upstream = net.JoinHostPort(u.Hostname(), map[string]string{depPostgres: "5432", depNATS: "4222", depRedis: "6379"}[dep])
	}
	p, err := faultproxy.Start(dep, "127.0.0.1:0", upstream)
	if err != nil {
		return "", err
	}
	f.proxies[dep] = p
	return viaProxy(rawURL, p.Addr())
}

// viaProxy returns rawURL with its host:port replaced by addr.
func viaProxy(rawURL, addr string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	u.Host = addr
	return u.String(), nil
}

func (f *proxiedFleet) spec(s fleet.Service) fleet.ProcSpec {
	return fleet.ProcSpec{Name: s.Name, Path: s.Binary, Dir: f.opts.Root, Env: s.Env}
}

// service returns the plan entry of name: an instance (order-2), or a
// service, whose first instance it then is.
func (f *proxiedFleet) service(name string) (fleet.Service, bool) {
	i := slices.IndexFunc(f.plan, func(s fleet.Service) bool { return s.Name == name })
	if i < 0 {
		i = slices.IndexFunc(f.plan, func(s fleet.Service) bool { return s.Of == name })
	}
	if i < 0 {
		return fleet.Service{}, false
	}
	return f.plan[i], true
}

// instances returns every instance of the service svc, in order.
func (f *proxiedFleet) instances(svc string) []fleet.Service {
	var out []fleet.Service
	for _, s := range f.plan {
		if s.Of == svc {
			out = append(out, s)
		}
	}
	return out
}

// dial is the gRPC address of svc as a client dials it: every instance,
// comma-separated (loadgen.DialGRPC balances over them).
func (f *proxiedFleet) dial(svc string) string {
	var addrs []string
	for _, s := range f.instances(svc) {
		addrs = append(addrs, s.GRPCDial)
	}
	return strings.Join(addrs, ",")
}

// Signal sends sig (SIGKILL or SIGTERM) to an instance (a service name
// means its first) and waits for it to exit; the exit is expected, not a
// failure of the run.
func (f *proxiedFleet) Signal(name, sig string) (fleet.ProcExit, error) {
	if s, ok := f.service(name); ok {
		name = s.Name
	}
	f.mu.Lock()
	p := f.procs[name]
	f.expected[name]++
	f.mu.Unlock()
	if p == nil {
		return fleet.ProcExit{}, fmt.Errorf("no process for %s", name)
	}
	var err error
	if sig == "SIGKILL" {
		err = fleet.Kill(p.OSProcess())
	} else {
		err = fleet.Terminate(p.OSProcess())
	}
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fleet.ProcExit{}, fmt.Errorf("%s %s: %w", sig, name, err)
	}
	select {
	case <-p.Done():
	case <-time.After(f.opts.StopTimeout):
		_ = fleet.Kill(p.OSProcess())
		<-p.Done()
	}
	return p.Exit(), nil
}

// Restart starts an instance (a service name means its first) that chaos
// stopped and waits until it is SERVING.
func (f *proxiedFleet) Restart(ctx context.Context, name string) error {
	s, ok := f.service(name)
	if !ok {
		return fmt.Errorf("unknown service %s", name)
	}
	p, err := f.sup.Start(f.spec(s))
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.procs[s.Name] = p
	f.restarts[s.Of]++
	f.mu.Unlock()
	readyCtx, cancel := context.WithTimeout(ctx, f.opts.ReadyTimeout)
	defer cancel()
	if r := fleet.PollServing(readyCtx, s.GRPCDial, s.ClientTLS); r.Err != nil {
		return fmt.Errorf("%s restarted but not SERVING within %s: %w", name, f.opts.ReadyTimeout, r.Err)
	}
	return nil
}

// restarted says how often chaos started an instance of the service again.
func (f *proxiedFleet) restarted(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restarts[name]
}

// Unexpected returns the exit of a service that chaos did not cause, if one
// happened; the supervisor's channel is drained either way.
func (f *proxiedFleet) Unexpected() []fleet.ProcExit {
	var out []fleet.ProcExit
	for {
		select {
		case e := <-f.sup.Exited():
			f.mu.Lock()
			if f.expected[e.Name] > 0 {
				f.expected[e.Name]--
				f.mu.Unlock()
				continue
			}
			f.mu.Unlock()
			out = append(out, e)
		default:
			return out
		}
	}
}

// Tail returns the last lines an instance (a service name means its
// first) wrote.
func (f *proxiedFleet) Tail(name string) []string {
	if s, ok := f.service(name); ok {
		name = s.Name
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.procs[name]; p != nil {
		return p.Tail()
	}
	return nil
}

// Stop stops the services, the proxies and the broker, and drops the
// databases it created. It returns the services that did not stop cleanly.
func (f *proxiedFleet) Stop() error {
	var err error
	if f.sup != nil {
		var unclean []string
		for _, e := range f.sup.StopAll(f.opts.StopTimeout, f.opts.Force) {
			if !e.Clean() {
				unclean = append(unclean, e.Name+" ("+e.Describe()+")")
			}
		}
		if len(unclean) > 0 {
			err = fmt.Errorf("did not stop cleanly: %s", strings.Join(unclean, ", "))
		}
	}
	for _, p := range f.proxies {
		_ = p.Close()
	}
	if f.broker != nil {
		f.broker.Stop()
	}
	for _, c := range slices.Backward(f.cleanups) {
		c()
	}
	f.cleanups = nil
	if f.logFile != nil {
		_ = f.logFile.Close()
	}
	return err
}
