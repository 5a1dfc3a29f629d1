package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devconsole"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/webui"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// defaultConsolePort is where `slipway dev` serves the console.
const defaultConsolePort = 8080

// defaultJaegerURL is where the console links traces when the services
// export them elsewhere (deploy/compose runs Jaeger there).
const defaultJaegerURL = "http://localhost:16686"

// tracesExternal reports whether the parent environment sends traces to a
// collector of its own; then dev leaves the OTLP settings alone.
func tracesExternal(environ []string) bool {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v, _ := envvar.Lookup(environ, k); v != "" {
			return true
		}
	}
	return false
}

// consoleTracing is what the console says about where the traces go.
func consoleTracing(environ []string) devconsole.Tracing {
	if !tracesExternal(environ) {
		return devconsole.Tracing{Mode: "local"}
	}
	url, _ := envvar.Lookup(environ, "SLIPWAY_JAEGER_URL")
	if url == "" {
		url = defaultJaegerURL
	}
	return devconsole.Tracing{Mode: "external", JaegerURL: url}
}

// consoleAddr is the console's listen address.
func consoleAddr(opts devOptions) string {
	return net.JoinHostPort(opts.Host, strconv.Itoa(opts.ConsolePort))
}

// consoleURL is the address to open in a browser.
func consoleURL(opts devOptions) string {
	host := opts.Host
	switch host {
	case "", "0.0.0.0", "::", "127.0.0.1", "::1":
		host = "localhost"
	}
	return opts.httpScheme() + "://" + net.JoinHostPort(host, strconv.Itoa(opts.ConsolePort))
}

// consoleOrigins are the browser origins the console is reached at: the
// services must allow them for cross-origin calls (CORS).
func consoleOrigins(opts devOptions) []string {
	port, scheme := strconv.Itoa(opts.ConsolePort), opts.httpScheme()+"://"
	origins := []string{scheme + net.JoinHostPort("localhost", port), scheme + net.JoinHostPort("127.0.0.1", port)}
	switch opts.Host {
	case "", "0.0.0.0", "::", "127.0.0.1", "localhost":
	default:
		origins = append(origins, scheme+net.JoinHostPort(opts.Host, port))
	}
	return origins
}

// consoleHosts are the Host header names the console answers to; nil (any)
// when it listens on every interface, whose names it cannot know.
func consoleHosts(opts devOptions) []string {
	switch opts.Host {
	case "0.0.0.0", "::":
		return nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if opts.Host != "" && opts.Host != "localhost" && opts.Host != "127.0.0.1" && opts.Host != "::1" {
		hosts = append(hosts, opts.Host)
	}
	return hosts
}

// consoleEnv is the part of every service's environment that the console
// needs, as defaults (used when the parent leaves a variable unset) and
// fixed values. With the console off it is empty. CORS_ALLOWED_ORIGINS is
// not here: withConsoleOrigins adds to whatever the service gets.
//
// Unless the parent names a collector, the services export traces to the
// console (OTLP/HTTP, the only protocol it receives, hence fixed), sample
// every request that no caller decided about, and flush every 200 ms
// instead of 5 s so a request shows up in the console at once.
func consoleEnv(opts devOptions) (defaults, fixed []envvar.Var, err error) {
	if opts.ConsolePort == 0 || tracesExternal(opts.Environ) {
		return nil, nil, nil
	}
	dial, err := workspace.DialAddr(consoleAddr(opts))
	if err != nil {
		return nil, nil, err
	}
	defaults = []envvar.Var{
		{Key: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: opts.httpScheme() + "://" + dial},
		{Key: "OTEL_TRACES_SAMPLER", Value: "parentbased_always_on"},
		{Key: "OTEL_BSP_SCHEDULE_DELAY", Value: "200"},
	}
	fixed = []envvar.Var{
		{Key: "OTEL_EXPORTER_OTLP_PROTOCOL", Value: "http/protobuf"},
		{Key: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Value: "http/protobuf"},
	}
	return defaults, fixed, nil
}

// corsVar is the services' list of allowed browser origins (platform/config).
const corsVar = "CORS_ALLOWED_ORIGINS"

// withConsoleOrigins returns a service's environment with the console's
// origins added to its CORS_ALLOWED_ORIGINS (after the origins it already
// has, each once), so the console's pages may call the service whatever
// else the parent allows. With the console off, env is unchanged.
func withConsoleOrigins(env []string, opts devOptions) []string {
	if opts.ConsolePort == 0 {
		return env
	}
	current, _ := envvar.Lookup(env, corsVar)
	return envvar.Set(env, corsVar, strings.Join(mergeOrigins(current, consoleOrigins(opts)), ","))
}

// mergeOrigins appends add to the comma-separated list, leaving out empty
// entries and any origin already there.
func mergeOrigins(list string, add []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range append(strings.Split(list, ","), add...) {
		o = strings.TrimSpace(o)
		if key := strings.TrimRight(o, "/"); o != "" && !seen[key] {
			seen[key] = true
			out = append(out, o)
		}
	}
	return out
}

// consoleCORSNote is the line that says dev added the console's origins to
// origins the parent environment allows, or "" when the parent sets none.
func consoleCORSNote(opts devOptions) string {
	var set []string
	for _, kv := range opts.Environ {
		k, v, _ := strings.Cut(kv, "=")
		if v != "" && (k == corsVar || (strings.HasPrefix(k, "SLIPWAY_") && strings.HasSuffix(k, "_"+corsVar))) && !slices.Contains(set, k) {
			set = append(set, k)
		}
	}
	if opts.ConsolePort == 0 || len(set) == 0 {
		return ""
	}
	return fmt.Sprintf("console: the services allow the origins of %s and the console's (%s)",
		strings.Join(set, ", "), strings.Join(consoleOrigins(opts), ", "))
}

// byteSize is a flag.Value of a number of bytes: a whole number with an
// optional unit B, KiB, MiB or GiB ("256MiB").
type byteSize struct{ n *int64 }

var byteUnits = []struct {
	suffix string
	size   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	for _, u := range byteUnits {
		if *b.n != 0 && *b.n%u.size == 0 {
			return strconv.FormatInt(*b.n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(*b.n, 10)
}

func (b byteSize) Set(s string) error {
	num, unit := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, unit = strings.TrimSpace(rest), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return fmt.Errorf("%q: want a number of bytes, such as 268435456 or 256MiB (units B, KiB, MiB, GiB)", s)
	}
	*b.n = n * unit
	return nil
}

// consoleServer is the running console of a dev session.
type consoleServer struct {
	console *devconsole.Console
	srv     *http.Server
	served  chan error
	stop    context.CancelFunc
	out     *console
}

// startConsole listens on the console address and serves the console for
// plan's services until Stop. Lines the services write reach its log index
// through out. With certs (dev --tls) it serves https with its own
// certificate and calls the services over TLS, presenting it.
func startConsole(opts devOptions, plan []devService, certs *devcert.Bundle, sup *supervisor, out *console) (*consoleServer, error) {
	services := make([]devconsole.Service, len(plan))
	for i, s := range plan {
		services[i] = devconsole.Service{Name: s.Name, GRPCAddr: s.GRPCDial, HTTPURL: s.HTTPURL()}
	}
	var client *http.Client
	var serverTLS *tls.Config
	if certs != nil {
		clientTLS, err := certs.ClientConfig(workspace.ConsoleIdentity)
		if err != nil {
			return nil, err
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS, ForceAttemptHTTP2: true}}
		if serverTLS, err = certs.ServerConfig(workspace.ConsoleIdentity); err != nil {
			return nil, err
		}
	}
	c := devconsole.New(devconsole.Options{
		Client:       client,
		Services:     services,
		Tracing:      consoleTracing(opts.Environ),
		Processes:    supervisorProcesses{sup},
		UI:           webui.FS(),
		MaxTraces:    opts.ConsoleMaxTraces,
		MaxSpans:     opts.ConsoleMaxSpans,
		MaxBytes:     opts.ConsoleMaxBytes,
		AllowedHosts: consoleHosts(opts),

		AdminEmail: workspace.AdminEmail(opts.Environ), AdminPassword: workspace.AdminPassword(opts.Environ), // /debug/config is for admins
	})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", consoleAddr(opts))
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w (move it with --console-port, or 0 turns it off)", consoleAddr(opts), err)
	}

	ctx, stop := context.WithCancel(context.Background())
	s := &consoleServer{
		console: c,
		srv: &http.Server{
			Handler:           c.Handler(),
			TLSConfig:         serverTLS,
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ctx }, // ends event streams on Stop
		},
		served: make(chan error, 1),
		stop:   stop,
		out:    out,
	}
	if note := consoleCORSNote(opts); note != "" {
		out.Infof("%s", note)
	}
	out.ObserveLines(c.LogLine)
	go c.Run(ctx)
	go func() {
		if serverTLS != nil {
			s.served <- s.srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		s.served <- s.srv.Serve(ln)
	}()
	return s, nil
}

// Stop stops polling and serving; open event streams end at once.
func (s *consoleServer) Stop() {
	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		s.out.Infof("console: %v", err)
	}
}

// supervisorProcesses answers the console's questions about processes from
// the supervisor.
type supervisorProcesses struct{ sup *supervisor }

// Process returns the start of the newest running process of service.
func (p supervisorProcesses) Process(service string) (time.Time, bool) {
	var started time.Time
	found := false
	for _, proc := range p.sup.Running() {
		if proc.Name() == service && proc.Started().After(started) {
			started, found = proc.Started(), true
		}
	}
	return started, found
}

// consoleSummary is the line about the console in the ready output.
func consoleSummary(opts devOptions) string {
	t := consoleTracing(opts.Environ)
	if t.Mode == "local" {
		return fmt.Sprintf("console: %s (services, API explorer, traces and their logs; traces are kept here, in memory)", consoleURL(opts))
	}
	return fmt.Sprintf("console: %s (services, API explorer); traces go to the OTLP endpoint of the environment, see them in Jaeger at %s", consoleURL(opts), t.JaegerURL)
}
