package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/grpchealth"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
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

func TestRunProbe(t *testing.T) {
	addr, hs := startHealthServer(t)
	hs.SetServingStatus("slipway.inventory.v1.InventoryService", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("slipway.order.v1.OrderService", healthpb.HealthCheckResponse_NOT_SERVING)
	unreachable := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))

	tests := []struct {
		name    string
		opts    probeOptions
		status  string
		wantErr string // "" expects success
	}{
		{name: "serving server", opts: probeOptions{Addr: addr}, status: "SERVING"},
		{name: "serving service", opts: probeOptions{Addr: addr, Service: "slipway.inventory.v1.InventoryService"}, status: "SERVING"},
		{name: "not serving service", opts: probeOptions{Addr: addr, Service: "slipway.order.v1.OrderService"}, status: "NOT_SERVING", wantErr: "is NOT_SERVING"},
		{name: "unknown service", opts: probeOptions{Addr: addr, Service: "nope.v1.Nope"}, status: "SERVICE_UNKNOWN", wantErr: `"nope.v1.Nope" is unknown`},
		{name: "nothing listening", opts: probeOptions{Addr: unreachable}, status: "UNREACHABLE", wantErr: unreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.opts.Stdout, tt.opts.Timeout = &out, 2*time.Second
			err := runProbe(t.Context(), tt.opts)
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

func TestRunProbeNotServingServer(t *testing.T) {
	addr, hs := startHealthServer(t)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	var out bytes.Buffer
	err := runProbe(t.Context(), probeOptions{Addr: addr, Timeout: time.Second, Stdout: &out})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOT_SERVING")
	assert.Contains(t, out.String(), addr+" NOT_SERVING")

	hs.Shutdown() // what a service does on SIGTERM: everything NOT_SERVING
	hs.Resume()
	err = runProbe(t.Context(), probeOptions{Addr: addr, Timeout: time.Second, Stdout: &out})
	assert.NoError(t, err, "SERVING again after Resume")
}

func TestRunProbeJSONAndList(t *testing.T) {
	addr, _ := startHealthServer(t)
	var out bytes.Buffer
	err := runProbe(t.Context(), probeOptions{Addr: addr, Timeout: 2 * time.Second, JSON: true, List: true, Stdout: &out})
	require.NoError(t, err)

	var res probeResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, addr, res.Addr)
	assert.Equal(t, "SERVING", res.Status)
	assert.True(t, res.Serving)
	assert.Empty(t, res.Error)
	assert.Contains(t, res.Services, "grpc.health.v1.Health")
	assert.Contains(t, res.Services, "grpc.reflection.v1.ServerReflection")
}

func TestRunProbeJSONUnreachable(t *testing.T) {
	var out bytes.Buffer
	addr := "127.0.0.1:" + strconv.Itoa(clitest.FreePort(t))
	err := runProbe(t.Context(), probeOptions{Addr: addr, Timeout: time.Second, JSON: true, Stdout: &out})
	require.Error(t, err)

	var res probeResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, grpchealth.StatusUnreachable, res.Status)
	assert.False(t, res.Serving)
	assert.NotEmpty(t, res.Error)
}

func TestProbeMainFallsBackToGRPCAddr(t *testing.T) {
	addr, _ := startHealthServer(t)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)

	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"GRPC_ADDR=:" + port}}
	require.NoError(t, probeMain(t.Context(), nil, env))
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
