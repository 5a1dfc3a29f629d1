package probe

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/grpchealth"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// startHealthServer serves grpc.health.v1 (and reflection) on a free port and
// returns its address and the health server to set statuses on.
func startHealthServer(t *testing.T) (string, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), hs
}

func TestRun(t *testing.T) {
	addr, hs := startHealthServer(t)
	hs.SetServingStatus("slipway.inventory.v1.InventoryService", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("slipway.order.v1.OrderService", healthpb.HealthCheckResponse_NOT_SERVING)
	unreachable := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))

	tests := []struct {
		name    string
		opts    Options
		status  string
		wantErr string // "" expects success
	}{
		{name: "serving server", opts: Options{Addr: addr}, status: "SERVING"},
		{name: "serving service", opts: Options{Addr: addr, Service: "slipway.inventory.v1.InventoryService"}, status: "SERVING"},
		{name: "not serving service", opts: Options{Addr: addr, Service: "slipway.order.v1.OrderService"}, status: "NOT_SERVING", wantErr: "is NOT_SERVING"},
		{name: "unknown service", opts: Options{Addr: addr, Service: "nope.v1.Nope"}, status: "SERVICE_UNKNOWN", wantErr: `"nope.v1.Nope" is unknown`},
		{name: "nothing listening", opts: Options{Addr: unreachable}, status: "UNREACHABLE", wantErr: unreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.opts.Stdout, tt.opts.Timeout = &out, 2*time.Second
			err := Run(t.Context(), tt.opts)
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
			}
			assert.Contains(t, out.String(), tt.status)
		})
	}
}

func TestRunNotServingServer(t *testing.T) {
	addr, hs := startHealthServer(t)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	var out bytes.Buffer
	err := Run(t.Context(), Options{Addr: addr, Timeout: time.Second, Stdout: &out})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOT_SERVING")
	assert.Contains(t, out.String(), addr+" NOT_SERVING")

	hs.Shutdown() // what a service does on SIGTERM: everything NOT_SERVING
	hs.Resume()
	err = Run(t.Context(), Options{Addr: addr, Timeout: time.Second, Stdout: &out})
	assert.NoError(t, err, "SERVING again after Resume")
}

func TestRunJSONAndList(t *testing.T) {
	addr, _ := startHealthServer(t)
	var out bytes.Buffer
	err := Run(t.Context(), Options{Addr: addr, Timeout: 2 * time.Second, JSON: true, List: true, Stdout: &out})
	require.NoError(t, err)

	var res Result
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, addr, res.Addr)
	assert.Equal(t, "SERVING", res.Status)
	assert.True(t, res.Serving)
	assert.Empty(t, res.Error)
	assert.Contains(t, res.Services, "grpc.health.v1.Health")
	assert.Contains(t, res.Services, "grpc.reflection.v1.ServerReflection")
}

func TestRunJSONUnreachable(t *testing.T) {
	var out bytes.Buffer
	addr := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	err := Run(t.Context(), Options{Addr: addr, Timeout: time.Second, JSON: true, Stdout: &out})
	require.Error(t, err)

	var res Result
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, grpchealth.StatusUnreachable, res.Status)
	assert.False(t, res.Serving)
	assert.NotEmpty(t, res.Error)
}

func TestMainFallsBackToGRPCAddr(t *testing.T) {
	addr, _ := startHealthServer(t)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)

	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"GRPC_ADDR=:" + port}}
	require.NoError(t, Main(t.Context(), nil, env))
	assert.Contains(t, stdout.String(), "127.0.0.1:"+port+" SERVING")
}

func TestDialAddr(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "127.0.0.1:50051", want: "127.0.0.1:50051"},
		{in: ":50051", want: "127.0.0.1:50051"},
		{in: "0.0.0.0:8083", want: "127.0.0.1:8083"},
		{in: "[::]:8083", want: "127.0.0.1:8083"},
		{in: "[::1]:8083", want: "[::1]:8083"},
		{in: "inventory:50053", want: "inventory:50053"},
		{in: "50051", wantErr: "missing port"},
		{in: "host:", wantErr: "no port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := workspace.DialAddr(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// Run reaches a server that requires the dev CA's client certificates only
// with the TLS configuration --tls makes.
func TestRunOverTLS(t *testing.T) {
	b, err := devcert.Ensure(devcert.Options{Dir: t.TempDir(), Identities: []devcert.Identity{
		{Name: "inventory", Usage: devcert.ServerAndClient},
		{Name: workspace.CLIIdentity, Usage: devcert.ClientOnly},
	}})
	require.NoError(t, err)
	clientTLS, err := b.ClientConfig(workspace.CLIIdentity)
	require.NoError(t, err)
	serverTLS, err := b.ServerConfig("inventory")
	require.NoError(t, err)
	serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	var out bytes.Buffer
	require.NoError(t, Run(t.Context(), Options{Addr: ln.Addr().String(), Timeout: 2 * time.Second, TLS: clientTLS, Stdout: &out}))
	assert.Contains(t, out.String(), "SERVING")
	err = Run(t.Context(), Options{Addr: ln.Addr().String(), Timeout: 2 * time.Second, Stdout: &out})
	assert.Error(t, err, "plaintext is refused")
}

func TestMainUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{name: "no address", want: "--addr is required (or set GRPC_ADDR)"},
		{name: "zero timeout", args: []string{"--addr", "127.0.0.1:1", "--timeout", "0s"}, want: "--timeout must be positive, got 0s"},
		{name: "an address without a port", args: []string{"--addr", "localhost"}, want: "missing port"},
		{name: "a client certificate without a CA", args: []string{"--addr", "127.0.0.1:1", "--cert", "c.pem", "--key", "k.pem"}, want: "--cert and --key need --cacert"},
		{name: "--tls and the pod's CA", args: []string{"--addr", "127.0.0.1:1", "--tls"}, environ: []string{"TLS_CA_FILE=ca.pem"}, want: "--tls uses the dev CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Main(t.Context(), tt.args, &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: tt.environ})
			var uerr cli.UsageError
			require.ErrorAs(t, err, &uerr)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, stdout.String(), "nothing was probed")
		})
	}
}

// A server without reflection answers the health check; --list then adds
// the reflection error below the SERVING line, and the probe still passes.
func TestRunListWithoutReflection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	var out bytes.Buffer
	err = Run(t.Context(), Options{Addr: ln.Addr().String(), Service: "", List: true, Timeout: 2 * time.Second, Stdout: &out})
	require.Error(t, err, "a failed listing is an error of the probe")
	assert.Contains(t, err.Error(), "reflection: the server does not enable reflection")
	assert.Regexp(t, `^\S+ SERVING in \d+\.\dms\nerror: reflection: the server does not enable reflection\n$`, out.String())
}

func TestRender(t *testing.T) {
	var out bytes.Buffer
	render(&out, Result{Addr: "127.0.0.1:1", Service: "x.v1.X", Status: "SERVING", LatencyMS: 1.25, Services: []string{"a.A", "b.B"}})
	assert.Equal(t, "127.0.0.1:1 (service \"x.v1.X\") SERVING in 1.2ms\nservices: a.A, b.B\n", out.String())
	out.Reset()
	render(&out, Result{Addr: "127.0.0.1:1", Status: "UNREACHABLE", Error: "connection refused"})
	assert.Equal(t, "127.0.0.1:1 UNREACHABLE: connection refused\n", out.String(), "a failure shows its reason, not a latency")
}
