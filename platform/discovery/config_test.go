package discovery_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/discovery/etcdtest"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/platform/telemetry/logtest"
)

func TestParseDiscovery(t *testing.T) {
	tests := []struct {
		in        string
		mode      discovery.Mode
		endpoints []string
		err       string
	}{
		{"", discovery.Static, nil, ""},
		{"static", discovery.Static, nil, ""},
		{" static ", discovery.Static, nil, ""},
		{"etcd://127.0.0.1:2379", discovery.Etcd, []string{"127.0.0.1:2379"}, ""},
		{"etcd://etcd-0:2379,etcd-1:2379, etcd-2:2379", discovery.Etcd, []string{"etcd-0:2379", "etcd-1:2379", "etcd-2:2379"}, ""},
		{"etcd://[::1]:2379/", discovery.Etcd, []string{"[::1]:2379"}, ""},
		{"etcd", "", nil, `discovery: "etcd": unknown mode; want "static" or "etcd://host:port[,host:port...]"`},
		{"consul://h:8500", "", nil, "unknown mode"},
		{"STATIC", "", nil, "unknown mode"},
		{"etcd://", "", nil, "no etcd endpoints"},
		{"etcd://h", "", nil, `endpoint "h": not host:port`},
		{"etcd://h:2379,", "", nil, `endpoint "": empty`},
		{"etcd://:2379", "", nil, "no host"},
		{"etcd://h:http", "", nil, `bad port "http"`},
		{"etcd://h:70000", "", nil, "bad port"},
		{"etcd://h:2379/path", "", nil, "not host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			mode, eps, err := discovery.ParseDiscovery(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Empty(t, mode)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.mode, mode)
			assert.Equal(t, tt.endpoints, eps)
		})
	}
}

func TestNewEtcdClient(t *testing.T) {
	t.Parallel()
	t.Run("connects", func(t *testing.T) {
		etcd := etcdtest.Start(t)
		cli, err := discovery.NewEtcdClient([]string{etcd.Endpoint}, 5*time.Second, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		defer func() { _ = cli.Close() }()
		_, err = cli.Put(t.Context(), "k", "v")
		assert.NoError(t, err)
	})
	t.Run("fails within the dial timeout when nothing answers", func(t *testing.T) {
		etcd := etcdtest.Start(t)
		etcd.Stop()
		start := time.Now()
		_, err := discovery.NewEtcdClient([]string{etcd.Endpoint}, 300*time.Millisecond, slog.New(slog.DiscardHandler))
		assert.ErrorContains(t, err, "discovery: connect to etcd "+etcd.Endpoint)
		assert.Less(t, time.Since(start), 3*time.Second)
	})
	t.Run("rejects a config without endpoints or timeout", func(t *testing.T) {
		_, err := discovery.NewEtcdClient(nil, time.Second, slog.New(slog.DiscardHandler))
		assert.ErrorContains(t, err, "at least one endpoint")
		_, err = discovery.NewEtcdClient([]string{"127.0.0.1:2379"}, 0, slog.New(slog.DiscardHandler))
		assert.ErrorContains(t, err, "must be positive")
		_, err = discovery.NewEtcdClient([]string{"127.0.0.1:2379"}, time.Second, nil)
		assert.ErrorContains(t, err, "needs a logger")
	})
}

// The etcd client's own warnings are written by the service's slog handler,
// so they carry "service" like every other line of the process.
func TestEtcdClientLogsThroughTheServiceLogger(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t)
	var logs logtest.Buffer
	cli, err := discovery.NewEtcdClient([]string{etcd.Endpoint}, 5*time.Second, telemetry.NewLogger(&logs, "order", slog.LevelInfo))
	require.NoError(t, err)
	defer func() { _ = cli.Close() }()
	assert.Empty(t, logs.Records(t), "a healthy connection logs nothing below warn")

	etcd.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "k")
	require.Error(t, err, "etcd is stopped")

	var found map[string]any
	for _, l := range logs.Records(t) {
		if l["msg"] == "retrying of unary invoker failed" {
			found = l
			break
		}
	}
	require.NotNil(t, found, "etcd's retry warning reached the slog handler:\n%s", logs.String())
	assert.Equal(t, "order", found["service"])
	assert.Equal(t, "WARN", found["level"])
	assert.Equal(t, "etcd-client", found["logger"])
	assert.Equal(t, "/etcdserverpb.KV/Range", found["method"], "zap fields become attributes")
	assert.NotEmpty(t, found["error"])
}
