package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

func TestSurfaceDefaults(t *testing.T) {
	var b config.Base
	b.SetDefaults("user", 50051, 8081)
	assert.Equal(t, config.Surface{
		GRPCReflection:            true,
		HTTPReadTimeout:           30 * time.Second,
		HTTPWriteTimeout:          90 * time.Second,
		RPCMaxTimeout:             60 * time.Second,
		GRPCMaxConcurrentStreams:  1024,
		GRPCKeepaliveMinTime:      10 * time.Second,
		GRPCMaxConnectionIdle:     15 * time.Minute,
		GRPCMaxConnectionAge:      30 * time.Minute,
		GRPCMaxConnectionAgeGrace: time.Minute,
		GRPCWatchStreamsPerConn:   8,
		HealthCheckInterval:       5 * time.Second,
	}, b.Surface, "the operator surface is closed by default: no admin listener, no pprof")
}

func TestSurfaceFromEnvironment(t *testing.T) {
	var b config.Base
	b.SetDefaults("order", 50052, 8082)
	env := map[string]string{
		"ADMIN_ADDR": "127.0.0.1:9092", "METRICS_ON_ADMIN": "true", "PPROF_ENABLED": "true",
		"GRPC_REFLECTION": "false", "CONFIG_FINGERPRINT_KEY": "0123456789abcdef0123",
		"HTTP_READ_TIMEOUT": "5s", "RPC_MAX_TIMEOUT": "20s", "GRPC_WATCH_STREAMS_PER_CONN": "2",
	}
	require.NoError(t, config.Load(&b, "", func(k string) string { return env[k] }))
	s := b.Surface
	assert.Equal(t, "127.0.0.1:9092", s.AdminAddr)
	assert.True(t, s.MetricsOnAdmin)
	assert.True(t, s.PprofEnabled)
	assert.False(t, s.GRPCReflection)
	assert.Equal(t, 5*time.Second, s.HTTPReadTimeout)
	assert.Equal(t, 20*time.Second, s.RPCMaxTimeout)
	assert.Equal(t, 2, s.GRPCWatchStreamsPerConn)
	assert.True(t, s.AdminLoopback())
	shown := config.Redacted(&b)
	assert.NotContains(t, shown["config_fingerprint_key"], "0123456789abcdef", "the key is itself a secret")
}

func TestSurfaceValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(s *config.Surface)
		wantErr string
	}{
		{"bad admin addr", func(s *config.Surface) { s.AdminAddr = "nope" }, `config: ADMIN_ADDR="nope": want host:port`},
		{"metrics on admin without admin addr", func(s *config.Surface) { s.MetricsOnAdmin = true }, `config: METRICS_ON_ADMIN="true": needs ADMIN_ADDR`},
		{"short key, value not shown", func(s *config.Surface) { s.FingerprintKey = "hunter2" }, `config: CONFIG_FINGERPRINT_KEY="<7 bytes>": too short`},
		{"no read timeout", func(s *config.Surface) { s.HTTPReadTimeout = 0 }, `config: HTTP_READ_TIMEOUT="0s": must be greater than 0`},
		{"write timeout under the deadline cap", func(s *config.Surface) { s.HTTPWriteTimeout = 30 * time.Second },
			`config: HTTP_WRITE_TIMEOUT="30s": must exceed RPC_MAX_TIMEOUT (1m0s)`},
		{"negative idle", func(s *config.Surface) { s.GRPCMaxConnectionIdle = -time.Second }, `config: GRPC_MAX_CONNECTION_IDLE="-1s": must not be negative`},
		{"no streams", func(s *config.Surface) { s.GRPCMaxConcurrentStreams = 0 }, `config: GRPC_MAX_CONCURRENT_STREAMS="0"`},
		{"no watch streams", func(s *config.Surface) { s.GRPCWatchStreamsPerConn = 0 }, `config: GRPC_WATCH_STREAMS_PER_CONN="0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b config.Base
			b.SetDefaults("user", 50051, 8081)
			tt.mutate(&b.Surface)
			err := b.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
	t.Run("a non-loopback admin listener is allowed but not loopback", func(t *testing.T) {
		var b config.Base
		b.SetDefaults("user", 50051, 8081)
		b.Surface.AdminAddr = ":9090"
		require.NoError(t, b.Validate())
		assert.False(t, b.Surface.AdminLoopback())
		b.Surface.AdminAddr = "[::1]:9090"
		assert.True(t, b.Surface.AdminLoopback())
		b.Surface.AdminAddr = "localhost:9090"
		assert.True(t, strings.HasPrefix(b.Surface.AdminAddr, "localhost") && b.Surface.AdminLoopback())
	})
}
