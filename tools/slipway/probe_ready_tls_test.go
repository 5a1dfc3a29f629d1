package main

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// probe and ready reach servers that require the dev CA's client
// certificates only with --tls.
func TestProbeAndReadyOverTLS(t *testing.T) {
	_, b := clitest.DevTLSWorkspace(t)
	cli, err := b.ClientConfig(workspace.CLIIdentity)
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
	require.NoError(t, runProbe(t.Context(), probeOptions{Addr: ln.Addr().String(), Timeout: 2 * time.Second, TLS: cli, Stdout: &out}))
	assert.Contains(t, out.String(), "SERVING")
	err = runProbe(t.Context(), probeOptions{Addr: ln.Addr().String(), Timeout: 2 * time.Second, Stdout: &out})
	assert.Error(t, err, "plaintext is refused")
}
