package devloop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devconsole"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/webui"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// DefaultConsolePort is where `slipway dev` serves the console.
const DefaultConsolePort = 8080

// DefaultJaegerURL is where the console links traces when the services
// export them elsewhere (deploy/compose runs Jaeger there).
const DefaultJaegerURL = "http://localhost:16686"

// consoleTracing is what the console says about where the traces go.
func consoleTracing(environ []string) devconsole.Tracing {
	if !fleet.TracesExternal(environ) {
		return devconsole.Tracing{Mode: "local"}
	}
	url, _ := envvar.Lookup(environ, "SLIPWAY_JAEGER_URL")
	if url == "" {
		url = DefaultJaegerURL
	}
	return devconsole.Tracing{Mode: "external", JaegerURL: url}
}

// consoleURL is the address to open in a browser.
func consoleURL(opts fleet.Options) string {
	host := opts.Host
	switch host {
	case "", "0.0.0.0", "::", "127.0.0.1", "::1":
		host = "localhost"
	}
	return opts.HTTPScheme() + "://" + net.JoinHostPort(host, strconv.Itoa(opts.ConsolePort))
}

// consoleHosts are the Host header names the console answers to; nil (any)
// when it listens on every interface, whose names it cannot know.
func consoleHosts(opts fleet.Options) []string {
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

// consoleCORSNote is the line that says dev added the console's origins to
// origins the parent environment allows, or "" when the parent sets none.
func consoleCORSNote(opts fleet.Options) string {
	var set []string
	for _, kv := range opts.Environ {
		k, v, _ := strings.Cut(kv, "=")
		if v != "" && (k == fleet.CORSVar || (strings.HasPrefix(k, "SLIPWAY_") && strings.HasSuffix(k, "_"+fleet.CORSVar))) && !slices.Contains(set, k) {
			set = append(set, k)
		}
	}
	if opts.ConsolePort == 0 || len(set) == 0 {
		return ""
	}
	return fmt.Sprintf("console: the services allow the origins of %s and the console's (%s)",
		strings.Join(set, ", "), strings.Join(fleet.ConsoleOrigins(opts), ", "))
}

// consoleServer is the running console of a dev session.
type consoleServer struct {
	console *devconsole.Console
	srv     *http.Server
	served  chan error
	stop    context.CancelFunc
	out     *fleet.Console
}

// startConsole listens on the console address and serves the console for
// plan's services until Stop. Lines the services write reach its log index
// through out. With certs (dev --tls) it serves https with its own
// certificate and calls the services over TLS, presenting it.
func startConsole(opts fleet.Options, plan []fleet.Service, certs *devcert.Bundle, sup *fleet.Supervisor, out *fleet.Console) (*consoleServer, error) {
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
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", fleet.ConsoleAddr(opts))
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w (move it with --console-port, or 0 turns it off)", fleet.ConsoleAddr(opts), err)
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
type supervisorProcesses struct{ sup *fleet.Supervisor }

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
func consoleSummary(opts fleet.Options) string {
	t := consoleTracing(opts.Environ)
	if t.Mode == "local" {
		return fmt.Sprintf("console: %s (services, API explorer, traces and their logs; traces are kept here, in memory)", consoleURL(opts))
	}
	return fmt.Sprintf("console: %s (services, API explorer); traces go to the OTLP endpoint of the environment, see them in Jaeger at %s", consoleURL(opts), t.JaegerURL)
}
