// Package probe is the probe verb: one grpc.health.v1 check of a server,
// exit 0 when it answers SERVING, for compose and Kubernetes exec probes.
package probe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clienttls"
	"github.com/slipway-dev/slipway/tools/slipway/internal/grpchealth"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Options are the inputs of Run.
type Options struct {
	Addr    string        // host:port of the gRPC server
	Service string        // health service name; "" is the whole server
	Timeout time.Duration // for dialing and the call together
	List    bool          // also list the services the server exposes (reflection)
	JSON    bool
	TLS     *tls.Config // nil: plaintext
	Stdout  io.Writer
}

// Result is what Run reports; it is also the --json document.
type Result struct {
	Addr      string   `json:"addr"`
	Service   string   `json:"service"`
	Status    string   `json:"status"` // a grpc.health.v1 status, or UNREACHABLE / ERROR
	Serving   bool     `json:"serving"`
	LatencyMS float64  `json:"latency_ms"`
	Error     string   `json:"error,omitempty"`
	Services  []string `json:"services,omitempty"`
}

// Main parses the probe verb's flags and probes once.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "probe", "[--addr host:port] [--service name] [--timeout 2s] [--json]",
		"Asks a gRPC server's grpc.health.v1.Health/Check and exits 0 when it answers SERVING,\n"+
			"1 otherwise (NOT_SERVING, unknown service, unreachable, timeout). Meant for compose and\n"+
			"Kubernetes exec probes inside a service image. Without --addr it probes $GRPC_ADDR,\n"+
			"with an empty or wildcard host replaced by 127.0.0.1.\n\n"+
			"TLS: --tls calls a `slipway dev --tls` with its CA and the CLI's client certificate;\n"+
			"--cacert, --cert and --key name other files, and default to $TLS_CA_FILE, $TLS_CERT_FILE\n"+
			"and $TLS_KEY_FILE, so inside a service's pod the probe presents the pod's certificate.")
	opts := Options{Stdout: env.Stdout}
	var tlsFlags clienttls.Flags
	tlsFlags.Register(fs, env.Getenv)
	fs.StringVar(&opts.Addr, "addr", "", "gRPC address `host:port` (default $GRPC_ADDR)")
	fs.StringVar(&opts.Service, "service", "", "health service `name` to check; empty checks the whole server")
	fs.DurationVar(&opts.Timeout, "timeout", 2*time.Second, "give up after this `duration`")
	fs.BoolVar(&opts.List, "list", false, "also list the server's gRPC services through reflection")
	fs.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if opts.Addr == "" {
		opts.Addr = env.Getenv("GRPC_ADDR")
	}
	if opts.Addr == "" {
		return cli.UsageErrorf("--addr is required (or set GRPC_ADDR)")
	}
	if opts.Timeout <= 0 {
		return cli.UsageErrorf("--timeout must be positive, got %s", opts.Timeout)
	}
	var err error
	if opts.TLS, err = tlsFlags.Config(func() (string, error) { return workspace.Resolve("", "") }); err != nil {
		return err
	}
	return Run(ctx, opts)
}

// Run checks one server's health once and reports the status. It
// returns nil only when the server answers SERVING.
func Run(ctx context.Context, opts Options) error {
	addr, err := workspace.DialAddr(opts.Addr)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	res := Result{Addr: addr, Service: opts.Service}
	start := time.Now()
	st, services, probeErr := grpchealth.Probe(ctx, addr, opts.Service, opts.List, opts.TLS)
	res.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	res.Status = st
	res.Serving = probeErr == nil && st == healthpb.HealthCheckResponse_SERVING.String()
	res.Services = services
	if probeErr != nil {
		res.Error = probeErr.Error()
	}

	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		render(opts.Stdout, res)
	}

	target := addr
	if opts.Service != "" {
		target = fmt.Sprintf("%s service %q", addr, opts.Service)
	}
	switch {
	case probeErr != nil:
		return fmt.Errorf("%s: %w", target, probeErr)
	case !res.Serving:
		return fmt.Errorf("%s is %s", target, st)
	}
	return nil
}

func render(w io.Writer, res Result) {
	target := res.Addr
	if res.Service != "" {
		target += fmt.Sprintf(" (service %q)", res.Service)
	}
	if res.Error != "" && res.Status != healthpb.HealthCheckResponse_SERVING.String() {
		fmt.Fprintf(w, "%s %s: %s\n", target, res.Status, res.Error)
	} else {
		fmt.Fprintf(w, "%s %s in %.1fms\n", target, res.Status, res.LatencyMS)
	}
	if len(res.Services) > 0 {
		fmt.Fprintf(w, "services: %s\n", strings.Join(res.Services, ", "))
	}
	if res.Error != "" && res.Status == healthpb.HealthCheckResponse_SERVING.String() {
		fmt.Fprintf(w, "error: %s\n", res.Error)
	}
}
