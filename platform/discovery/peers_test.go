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
	clientv3 "go.etcd.io/etcd/client/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/discovery/etcdtest"
)

func healthServer(t *testing.T) string {
	t.Helper()
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestStaticPeersDialTheConfiguredAddressAndRegisterNothing(t *testing.T) {
	var base config.Base
	base.SetDefaults("order", 0, 0)
	peers, cleanup, err := discovery.NewPeers(base, sdktrace.NewTracerProvider(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer cleanup()
	assert.Nil(t, peers.Registration(), "static discovery registers nothing")

	conn, err := peers.Dial("inventory", healthServer(t))
	require.NoError(t, err)
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	assert.NoError(t, err)
}

func TestEtcdPeersRegisterTheInstanceAndResolveByName(t *testing.T) {
	etcd := etcdtest.Start(t)
	var base config.Base
	base.SetDefaults("inventory", 0, 0)
	base.Discovery = "etcd://" + etcd.Endpoint
	peers, cleanup, err := discovery.NewPeers(base, sdktrace.NewTracerProvider(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer cleanup()

	addr := healthServer(t)
	register := peers.Registration()
	require.NotNil(t, register)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deregister, err := register(ctx, addr)
	require.NoError(t, err)

	resp, err := etcd.Client(t).Get(ctx, "slipway/services/inventory/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "the instance is registered under its service name")

	conn, err := peers.Dial("inventory", "unused:1")
	require.NoError(t, err)
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	assert.NoError(t, err, "the peer is found through etcd, not the static address")

	require.NoError(t, deregister(ctx))
	resp, err = etcd.Client(t).Get(ctx, "slipway/services/inventory/", clientv3.WithPrefix())
	require.NoError(t, err)
	assert.Empty(t, resp.Kvs)
}
