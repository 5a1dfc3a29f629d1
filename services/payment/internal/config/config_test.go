package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/payment/internal/config"
)

func TestDefault(t *testing.T) {
	c := config.Default()
	assert.Equal(t, "payment", c.Service)
	assert.Equal(t, ":50055", c.GRPCAddr)
	assert.Equal(t, ":8085", c.HTTPAddr)
	assert.Equal(t, "sqlite://.slipway/data/payment.db", c.DatabaseURL)
	assert.NoError(t, c.Validate())
}

func TestLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "payment.yaml")
	require.NoError(t, os.WriteFile(file, []byte("grpc_addr: \":6000\"\nlog_level: debug\n"), 0o600))

	tests := []struct {
		name     string
		path     string
		env      map[string]string
		wantGRPC string
		wantLog  string
		wantErr  string
	}{
		{name: "defaults", wantGRPC: ":50055", wantLog: "info"},
		{name: "file over defaults", path: file, wantGRPC: ":6000", wantLog: "debug"},
		{name: "environment over file", path: file, env: map[string]string{"GRPC_ADDR": "127.0.0.1:0"}, wantGRPC: "127.0.0.1:0", wantLog: "debug"},
		{name: "a missing file", path: filepath.Join(t.TempDir(), "missing.yaml"), wantErr: "missing.yaml"},
		{name: "an invalid base key fails validation", env: map[string]string{"GRPC_ADDR": "nope"}, wantErr: "GRPC_ADDR"},
		{name: "a bad database url", env: map[string]string{"DATABASE_URL": "mysql://db"}, wantErr: "DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.path, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantGRPC, c.GRPCAddr)
			assert.Equal(t, tt.wantLog, c.LogLevel)
		})
	}
}
