package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// probeOptions are the inputs of runProbe.
type probeOptions struct {
	Addr    string        // host:port of the gRPC server
	Service string        // health service name; "" is the whole server
	Timeout time.Duration // for dialing and the call together
	List    bool          // also list the services the server exposes (reflection)
	JSON    bool
	TLS     *tls.Config // nil: plaintext
	Stdout  io.Writer
}

// probeResult is what runProbe reports; it is also the --json document.
type probeResult struct {
	Addr      string   `json:"addr"`
	Service   string   `json:"service"`
	Status    string   `json:"status"` // a grpc.health.v1 status, or UNREACHABLE / ERROR
	Serving   bool     `json:"serving"`
	LatencyMS float64  `json:"latency_ms"`
	Error     string   `json:"error,omitempty"`
	Services  []string `json:"services,omitempty"`
}

func probeMain(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "probe", "[--addr host:port] [--service name] [--timeout 2s] [--json]",
		"Asks a gRPC server's grpc.health.v1.Health/Check and exits 0 when it answers SERVING,\n"+
			"1 otherwise (NOT_SERVING, unknown service, unreachable, timeout). Meant for compose and\n"+
			"Kubernetes exec probes inside a service image. Without --addr it probes $GRPC_ADDR,\n"+
			"with an empty or wildcard host replaced by 127.0.0.1.\n\n"+
			"TLS: --tls calls a `slipway dev --tls` with its CA and the CLI's client certificate;\n"+
			"--cacert, --cert and --key name other files, and default to $TLS_CA_FILE, $TLS_CERT_FILE\n"+
			"and $TLS_KEY_FILE, so inside a service's pod the probe presents the pod's certificate.")
	opts := probeOptions{Stdout: env.Stdout}
	var tlsFlags clientTLSFlags
	tlsFlags.register(fs, env.Getenv)
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
	if opts.TLS, err = tlsFlags.config(func() (string, error) { return workspace.Resolve("", "") }); err != nil {
		return err
	}
	return runProbe(ctx, opts)
}

// runProbe checks one server's health once and reports the status. It
// returns nil only when the server answers SERVING.
func runProbe(ctx context.Context, opts probeOptions) error {
	addr, err := workspace.DialAddr(opts.Addr)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	res := probeResult{Addr: addr, Service: opts.Service}
	start := time.Now()
	st, services, probeErr := probe(ctx, addr, opts.Service, opts.List, opts.TLS)
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
		printProbe(opts.Stdout, res)
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

func printProbe(w io.Writer, res probeResult) {
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

// Probe statuses beyond the grpc.health.v1 enum.
const (
	statusUnreachable = "UNREACHABLE"
	statusError       = "ERROR"
)

// probe dials addr once and asks for the health of service; with list it also
// asks the reflection service for the names of the server's services. With
// tlsConf it dials over TLS, presenting tlsConf's client certificate.
func probe(ctx context.Context, addr, service string, list bool, tlsConf *tls.Config) (string, []string, error) {
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return statusError, nil, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()

	st, err := checkHealthConn(ctx, conn, service)
	if err != nil || !list {
		return st, nil, err
	}
	services, err := listServices(ctx, conn)
	return st, services, err
}

// checkHealth asks addr's grpc.health.v1.Health/Check about service ("" is
// the whole server) over a fresh connection, failing fast when nothing
// listens. It returns the status name and an error when there is no answer.
func checkHealth(ctx context.Context, addr, service string, tlsConf *tls.Config) (string, error) {
	st, _, err := probe(ctx, addr, service, false, tlsConf)
	return st, err
}

func checkHealthConn(ctx context.Context, conn *grpc.ClientConn, service string) (string, error) {
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err == nil {
		return resp.GetStatus().String(), nil
	}
	s := status.Convert(err)
	switch s.Code() {
	case codes.NotFound:
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN.String(), fmt.Errorf("health service %q is unknown to the server", service)
	case codes.Unimplemented:
		return statusError, errors.New("the server does not implement grpc.health.v1.Health")
	case codes.Unavailable:
		return statusUnreachable, errors.New(s.Message())
	case codes.DeadlineExceeded:
		return statusUnreachable, errors.New("no answer before the timeout")
	default:
		return statusError, fmt.Errorf("%s: %s", s.Code(), s.Message())
	}
}

// listServices asks the server reflection service (v1) for the service names.
func listServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	req := &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}
	if err := stream.Send(req); err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return nil, errors.New("reflection: the server does not enable reflection")
		}
		return nil, fmt.Errorf("reflection: %s", status.Convert(err).Message())
	}
	_ = stream.CloseSend()
	if e := resp.GetErrorResponse(); e != nil {
		return nil, fmt.Errorf("reflection: %s", e.GetErrorMessage())
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	slices.Sort(names)
	return names, nil
}
