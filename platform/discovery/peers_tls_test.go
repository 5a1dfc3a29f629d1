package discovery_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// With TLS on, Peers dial over mTLS with the service's certificate and
// accept only a server that proves it is the service dialled.
func TestPeersDialOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "slipway")
	inventory, err := tlsconfig.Load(tlstest.Files(t, dir, "inventory", ca.Service(t, "inventory"), ca))
	require.NoError(t, err)
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(inventory.GRPCServerConfig())))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	var base config.Base
	base.SetDefaults("order", 0, 0)
	base.TLS = tlstest.Files(t, dir, "order", ca.Service(t, "order"), ca)
	peers, cleanup, err := discovery.NewPeers(base, sdktrace.NewTracerProvider(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer cleanup()

	check := func(service string) error {
		conn, err := peers.Dial(service, lis.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	assert.NoError(t, check("inventory"))
	err = check("user")
	assert.Equal(t, codes.Unavailable, status.Code(err), "the server is inventory, not user")

	base.TLS.CAFile = dir + "/missing.pem"
	_, _, err = discovery.NewPeers(base, sdktrace.NewTracerProvider(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "TLS_CA_FILE")
}
