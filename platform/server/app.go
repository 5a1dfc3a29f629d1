// Package server is the runtime every Slipway service shares: one gRPC
// server and one HTTP server carrying REST, gRPC-Web, Connect, metrics,
// health, docs and debug endpoints, one interceptor chain for all of them,
// and one lifecycle that owns start and shutdown.
package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/slipway-dev/slipway/platform/apidocs"
	"github.com/slipway-dev/slipway/platform/buildinfo"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/faults"
	"github.com/slipway-dev/slipway/platform/health"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
)

// Service is one gRPC service the App serves on every protocol.
type Service struct {
	Desc *grpc.ServiceDesc
	Impl any
	// Gateway registers the service's REST routes, e.g.
	// inventoryv1.RegisterInventoryServiceHandler.
	Gateway func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
}

// Option configures an App.
type Option func(*options)

type options struct {
	services []Service
	auth     AuthFunc
	handlers []handlerRoute
	openapi  []byte
	checks   map[string]health.Check
	optional map[string]health.Check
	closers  []closer
	workers  []worker
	register RegisterFunc
	version  string
}

type worker struct {
	name string
	run  func(context.Context) error
}

// RegisterFunc announces the instance at its bound gRPC address (for
// example in etcd) and returns how to withdraw it.
type RegisterFunc func(ctx context.Context, grpcAddr string) (deregister func(context.Context) error, err error)

type handlerRoute struct {
	pattern string
	h       http.Handler
}

type closer struct {
	name string
	fn   func() error
}

// WithService serves s.
func WithService(s Service) Option { return func(o *options) { o.services = append(o.services, s) } }

// WithAuth sets the authentication hook every RPC passes through.
func WithAuth(fn AuthFunc) Option { return func(o *options) { o.auth = fn } }

// WithHTTPHandler serves h at pattern (http.ServeMux syntax) on the HTTP listener.
func WithHTTPHandler(pattern string, h http.Handler) Option {
	return func(o *options) { o.handlers = append(o.handlers, handlerRoute{pattern, h}) }
}

// WithOpenAPI serves doc at /openapi.yaml and renders it at /docs/.
func WithOpenAPI(doc []byte) Option { return func(o *options) { o.openapi = doc } }

// WithCheck adds a readiness dependency, such as a database ping.
func WithCheck(name string, fn func(context.Context) error) Option {
	return func(o *options) { o.checks[name] = fn }
}

// WithOptionalCheck adds a dependency /readyz reports ("degraded") without
// taking the instance out of rotation, e.g. the broker behind an outbox.
func WithOptionalCheck(name string, fn func(context.Context) error) Option {
	return func(o *options) { o.optional[name] = fn }
}

// WithCloser runs fn after both servers have stopped (closers run in reverse
// order of registration), e.g. to close the database.
func WithCloser(name string, fn func() error) Option {
	return func(o *options) { o.closers = append(o.closers, closer{name, fn}) }
}

// WithWorker runs fn for the life of the App, beside the servers (an outbox
// relay, an event consumer, a sweeper). Its context ends after the servers
// have stopped and before the closers run; a worker that fails stops the App.
func WithWorker(name string, fn func(ctx context.Context) error) Option {
	return func(o *options) { o.workers = append(o.workers, worker{name, fn}) }
}

// WithRegistration announces the instance once it is SERVING and withdraws it
// first thing at shutdown, before the drain delay, so peers stop picking it.
func WithRegistration(fn RegisterFunc) Option { return func(o *options) { o.register = fn } }

// WithVersion overrides the version reported by slipway_build_info and
// /debug/config (buildinfo.Version by default).
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// App is one running service: its servers, health and lifecycle.
type App struct {
	base    config.Base
	logger  *slog.Logger
	tp      *sdktrace.TracerProvider
	health  *health.Health
	faults  *faults.Injector
	opts    options
	grpc    *grpc.Server
	http    *http.Server
	admin   *http.Server // the ADMIN_ADDR listener's server; nil when ADMIN_ADDR is empty
	chain   *chain
	gwConn  *grpc.ClientConn // the REST gateway's in-process connection (never dials)
	started time.Time

	mu       sync.Mutex
	grpcLis  net.Listener
	httpLis  net.Listener
	adminLis net.Listener
}

// New builds the servers of one service. cfg is the service's whole config
// (for /debug/config and its hash); base is the part the platform reads.
func New(base config.Base, cfg any, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider, opts ...Option) (*App, error) {
	o := options{checks: map[string]health.Check{}, optional: map[string]health.Check{}, version: buildinfo.Version}
	for _, opt := range opts {
		opt(&o)
	}
	a := &App{
		base: base, logger: logger, tp: tp, opts: o,
		health:  health.New(),
		faults:  faults.New(base.FaultsEnabled),
		started: time.Now(),
	}
	for name, check := range o.checks {
		a.health.AddCheck(name, check)
	}
	for name, check := range o.optional {
		a.health.AddOptionalCheck(name, check)
	}

	c, err := newChain(base, logger, reg, o.auth, a.faults)
	if err != nil {
		return nil, err
	}
	a.chain = c
	tlsFiles, err := tlsconfig.LoadWithMetrics(base.TLS, reg, "server", tlsconfig.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	prop := telemetry.Propagator()
	// The chain starts each call's server span itself (its tracing stage,
	// which skips health checks: probes every few seconds would bury the
	// requests in the trace views). No stats handler is installed: with
	// any, grpc-go builds stats events for every call (BenchmarkUnaryParts).
	c.traceWith(tp.Tracer(tracerName), prop)
	a.grpc = grpc.NewServer(append(grpcLimits(base.Surface),
		// A pool of goroutines per core serves the calls, so a call does not
		// start on a fresh goroutine and grow its stack each time.
		grpc.NumStreamWorkers(uint32(goruntime.GOMAXPROCS(0))), //nolint:gosec // GOMAXPROCS is small and positive
		grpc.ChainUnaryInterceptor(c.unary),
		grpc.ChainStreamInterceptor(c.stream),
		grpc.ForceServerCodecV2(c.codec), // an undecodable request is INVALID_ARGUMENT, not INTERNAL
		grpc.MaxRecvMsgSize(base.MaxMessageBytes),
		grpc.MaxSendMsgSize(base.MaxMessageBytes),
		grpc.Creds(grpcCredentials(tlsFiles)),
	)...)
	var names []string
	for _, s := range o.services {
		a.grpc.RegisterService(s.Desc, s.Impl)
		c.limiter.declare(s.Desc)
		names = append(names, s.Desc.ServiceName)
	}
	a.health.Register(names...)
	healthpb.RegisterHealthServer(a.grpc, a.health.Server())
	if base.Surface.GRPCReflection {
		reflection.Register(a.grpc)
	}

	if err := a.registerInfo(reg, cfg); err != nil {
		return nil, err
	}
	handler, err := a.httpHandler(reg, cfg, prop)
	if err != nil {
		return nil, err
	}
	a.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       base.Surface.HTTPReadTimeout,  // streaming RPCs lift it once the request is read: liftStreamingDeadlines
		WriteTimeout:      base.Surface.HTTPWriteTimeout, // likewise
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: int(base.Surface.GRPCMaxConcurrentStreams)},
		ConnContext:       httpConnContext,
	}
	a.http.Protocols.SetHTTP1(true)
	a.http.Protocols.SetUnencryptedHTTP2(true) // h2c, so gRPC clients can use the HTTP port too
	useTLS(a.http, tlsFiles)
	if base.Surface.AdminAddr != "" {
		a.admin = a.newAdminServer(reg, cfg)
		useTLS(a.admin, tlsFiles)
		if !base.Surface.AdminLoopback() {
			logger.Warn("the admin listener is not loopback; keep its port out of every Service and Ingress",
				"admin_addr", base.Surface.AdminAddr)
		}
	}
	if base.Surface.FingerprintKey == "" {
		logger.Warn("CONFIG_FINGERPRINT_KEY is not set: secret fingerprints in /debug/config use a random key of this process, so they differ between instances and drift cannot compare them")
	}
	return a, nil
}

// httpHandler routes the HTTP listener: platform endpoints by path, REST via
// grpc-gateway, gRPC-Web and Connect via vanguard. REST and the unary
// methods of the App's services reach their handlers in process (the
// dispatcher) through the same interceptor chain as native gRPC, with no
// gRPC transport in between; streaming methods (health Watch, reflection)
// go to the *grpc.Server's own HTTP handler.
func (a *App) httpHandler(reg *prometheus.Registry, cfg any, prop propagation.TextMapPropagator) (http.Handler, error) {
	direct := newDispatcher(a.opts.services, a.chain.unary)
	conn, err := direct.gatewayConn()
	if err != nil {
		return nil, err
	}
	a.gwConn = conn
	gw := newGatewayMux()
	for _, s := range a.opts.services {
		if s.Gateway == nil {
			continue
		}
		if err := s.Gateway(context.Background(), gw, conn); err != nil {
			return nil, fmt.Errorf("register gateway for %s: %w", s.Desc.ServiceName, err)
		}
	}
	target := &grpcTarget{d: direct, tracer: a.tp.Tracer(tracerName), prop: prop, codec: a.chain.codec, maxBytes: a.base.MaxMessageBytes}
	transcoder, err := newTranscoder(a.grpc, direct, target, a.base.MaxMessageBytes)
	if err != nil {
		return nil, fmt.Errorf("grpc-web/connect transcoder: %w", err)
	}
	rest := otelhttp.NewHandler(gw, "rest", otelhttp.WithTracerProvider(a.tp), otelhttp.WithPropagators(prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))

	mux := http.NewServeMux()
	if !a.base.Surface.MetricsOnAdmin {
		mux.Handle("GET /metrics", metricsHandler(reg))
	}
	mux.Handle("GET /healthz", a.health.Live())
	mux.Handle("GET /readyz", a.health.Readiness())
	if a.base.Surface.AdminAddr == "" {
		a.operatorRoutes(mux, cfg) // not RPCs: never shed; admins only
	}
	if a.opts.openapi != nil {
		apidocs.Register(mux, a.opts.openapi)
	}
	maxBody := int64(a.base.MaxMessageBytes)
	for _, h := range a.opts.handlers {
		mux.Handle(h.pattern, limitedBody(h.h, maxBody))
	}
	streaming := streamingMethods(a.grpc)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protocol := classify(r)
		r.Header.Set(protocolHeader, protocol)
		if protocol != "rest" {
			liftStreamingDeadlines(w, r, streaming)
		}
		setClientAddr(r)
		limitBody(w, r, protocol, maxBody, streaming)
		if protocol != "rest" && rpcBodyTooLarge(w, r, protocol, maxBody, streaming) {
			return
		}
		if protocol == "rest" {
			if bodyTooLarge(w, r, maxBody) {
				return
			}
			rest.ServeHTTP(w, r.WithContext(httpPeer(r.Context(), r)))
			return
		}
		if streaming[r.URL.Path] == notStreaming {
			w = unaryWriter{w}
		}
		transcoder.ServeHTTP(w, r)
	}))
	return cors(a.base.CORSOrigins, mux), nil
}

// registerInfo exports slipway_config_info{service,hash} and build info.
func (a *App) registerInfo(reg prometheus.Registerer, cfg any) error {
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slipway_config_info",
		Help: "Always 1; the hash label is the SHA-256 of the effective config with secrets redacted.",
	}, []string{"service", "hash"})
	info.WithLabelValues(a.base.Service, config.Hash(cfg)).Set(1)
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slipway_build_info",
		Help: "Always 1; the version of the running binary.",
	}, []string{"service", "version"})
	build.WithLabelValues(a.base.Service, a.opts.version).Set(1)
	for _, c := range []prometheus.Collector{info, build} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register info metrics: %w", err)
		}
	}
	return nil
}

func (a *App) debugConfig(cfg any) http.HandlerFunc {
	body := struct {
		Service string         `json:"service"`
		Version string         `json:"version"`
		Hash    string         `json:"hash"`
		Config  map[string]any `json:"config"`
	}{a.base.Service, a.opts.version, config.Hash(cfg), config.Redacted(cfg)}
	encoded, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		encoded = []byte(`{"error":"config cannot be encoded"}`)
	}
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(encoded))
	encoded = append(encoded, '\n')
	// http.ServeContent answers If-None-Match from the ETag header as RFC
	// 9110 asks (a list of tags, "*", weak comparison) with 304 and no
	// body, so a poller that sends the last ETag gets a 304 while the
	// config is unchanged.
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(encoded))
	}
}

// Health is the App's health object (for tests and custom readiness logic).
func (a *App) Health() *health.Health { return a.health }

// Faults is the App's fault injector (a no-op unless faults_enabled).
func (a *App) Faults() *faults.Injector { return a.faults }

// Listen binds both listeners. After it returns, GRPCAddr and HTTPAddr
// report the bound addresses (useful with port 0).
func (a *App) Listen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.grpcLis != nil {
		return nil
	}
	var lc net.ListenConfig
	gl, err := lc.Listen(context.Background(), "tcp", a.base.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen grpc on %s: %w", a.base.GRPCAddr, err)
	}
	hl, err := lc.Listen(context.Background(), "tcp", a.base.HTTPAddr)
	if err != nil {
		_ = gl.Close()
		return fmt.Errorf("listen http on %s: %w", a.base.HTTPAddr, err)
	}
	if a.admin != nil {
		al, err := lc.Listen(context.Background(), "tcp", a.base.Surface.AdminAddr)
		if err != nil {
			_, _ = gl.Close(), hl.Close()
			return fmt.Errorf("listen admin on %s (ADMIN_ADDR): %w", a.base.Surface.AdminAddr, err)
		}
		a.adminLis = al
	}
	a.grpcLis, a.httpLis = gl, hl
	return nil
}

// GRPCAddr is the bound gRPC address, or "" before Listen.
func (a *App) GRPCAddr() string { return addrString(a.grpcLis) }

// HTTPAddr is the bound HTTP address, or "" before Listen.
func (a *App) HTTPAddr() string { return addrString(a.httpLis) }

// AdminAddr is the bound admin listener's address, or "" before Listen and
// when ADMIN_ADDR is empty.
func (a *App) AdminAddr() string { return addrString(a.adminLis) }

func addrString(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Run serves until ctx ends, then shuts down in order: NOT_SERVING, drain
// delay, HTTP and gRPC graceful stop bounded by the shutdown timeout (then a
// hard stop), closers, telemetry flush. A clean stop returns nil.
func (a *App) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		return err
	}
	serveErr := make(chan error, 4+len(a.opts.workers))
	serve := func(name string, fn func() error) {
		if err := wrapServe(name, fn()); err != nil {
			serveErr <- err
		}
	}
	go serve("grpc", func() error { return a.grpc.Serve(a.grpcLis) })
	go serve("http", a.serveHTTP)
	if a.admin != nil {
		go serve("admin", a.serveAdmin)
	}
	// The heartbeat runs until Run returns, so liveness holds through the drain.
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBeat()
	go a.health.Heartbeat(beatCtx, time.Second, livenessStall)

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	for _, w := range a.opts.workers {
		workers.Go(func() {
			if err := w.run(workCtx); err != nil && workCtx.Err() == nil {
				serveErr <- fmt.Errorf("worker %s: %w", w.name, err)
			}
		})
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	deregistered := make(chan func(context.Context) error, 1)
	go a.becomeReady(watchCtx, deregistered)

	var runErr error
	select {
	case <-ctx.Done():
		a.logger.Info("shutting down", "reason", context.Cause(ctx).Error())
	case runErr = <-serveErr:
		a.logger.Error("failed; shutting down", "error", runErr)
	}
	stopWatch()
	select {
	case deregister := <-deregistered:
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := deregister(dctx); err != nil {
			a.logger.Warn("deregister", "error", err)
		}
		cancel()
	default:
	}
	if err := a.shutdown(func() { stopWork(); workers.Wait() }); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// becomeReady waits for every dependency check to pass, then marks the
// process SERVING and keeps following the checks.
func (a *App) becomeReady(ctx context.Context, deregistered chan<- func(context.Context) error) {
	for {
		results, ok := a.health.RunChecks(ctx, 2*time.Second)
		if ok {
			break
		}
		a.logger.Warn("dependencies not ready", "checks", results)
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	a.health.Ready()
	if a.opts.register != nil {
		deregister, err := a.opts.register(ctx, a.GRPCAddr())
		if err != nil {
			a.logger.Error("register instance; peers will not find it", "error", err)
		} else {
			deregistered <- deregister
		}
	}
	a.logger.Info("serving",
		"grpc_addr", a.GRPCAddr(), "http_addr", a.HTTPAddr(),
		"startup_ms", time.Since(a.started).Milliseconds(), "version", a.opts.version)
	a.health.Watch(ctx, a.base.Surface.HealthCheckInterval, 2*time.Second)
}

func (a *App) shutdown(stopWorkers func()) error {
	a.health.NotServing()
	if d := a.base.DrainDelay; d > 0 {
		a.logger.Info("draining before stop", "delay", d.String())
		time.Sleep(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.base.ShutdownTimeout)
	defer cancel()

	var errs []error
	// HTTP first: its in-flight streams (health Watch, reflection over
	// gRPC-Web) run on the gRPC server.
	if err := a.http.Shutdown(ctx); err != nil {
		a.logger.Warn("http graceful stop timed out; closing", "error", err)
		_ = a.http.Close()
	}
	if a.admin != nil {
		if err := a.admin.Shutdown(ctx); err != nil {
			_ = a.admin.Close()
		}
	}
	stopped := make(chan struct{})
	go func() { a.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		a.logger.Warn("grpc graceful stop timed out; stopping", "timeout", a.base.ShutdownTimeout.String())
		a.grpc.Stop()
		<-stopped
	}
	_ = a.gwConn.Close()
	stopWorkers()
	for i := len(a.opts.closers) - 1; i >= 0; i-- {
		c := a.opts.closers[i]
		if err := c.fn(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", c.name, err))
		}
	}
	a.logger.Info("stopped", "uptime", time.Since(a.started).Round(time.Millisecond).String())
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelFlush()
	if err := a.tp.Shutdown(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush traces: %w", err))
	}
	return errors.Join(errs...)
}

func wrapServe(name string, err error) error {
	if err == nil || errors.Is(err, grpc.ErrServerStopped) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("%s server: %w", name, err)
}
