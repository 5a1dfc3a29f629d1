package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/inventory/internal/config"
)

func TestDefault(t *testing.T) {
	c := config.Default()
	assert.Equal(t, "inventory", c.Service)
	assert.Equal(t, ":50053", c.GRPCAddr)
	assert.Equal(t, ":8083", c.HTTPAddr)
	assert.Equal(t, "sqlite://.slipway/data/inventory.db", c.DatabaseURL)
	assert.True(t, c.SeedCatalog)
	assert.NoError(t, c.Validate())
}

func TestLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "inventory.yaml")
	require.NoError(t, os.WriteFile(file, []byte("seed_catalog: false\ngrpc_addr: \":6000\"\n"), 0o600))

	tests := []struct {
		name     string
		path     string
		env      map[string]string
		wantSeed bool
		wantGRPC string
		wantErr  string
	}{
		{name: "defaults", wantSeed: true, wantGRPC: ":50053"},
		{name: "file over defaults", path: file, wantSeed: false, wantGRPC: ":6000"},
		{
			name: "environment over file", path: file,
			env:      map[string]string{"INVENTORY_SEED_CATALOG": "true", "GRPC_ADDR": "127.0.0.1:0"},
			wantSeed: true, wantGRPC: "127.0.0.1:0",
		},
		{name: "a bad seed flag names the variable", env: map[string]string{"INVENTORY_SEED_CATALOG": "maybe"}, wantErr: "INVENTORY_SEED_CATALOG"},
		{name: "an invalid base key fails validation", env: map[string]string{"GRPC_ADDR": "nope"}, wantErr: "GRPC_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.path, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantSeed, c.SeedCatalog)
			assert.Equal(t, tt.wantGRPC, c.GRPCAddr)
		})
	}
}
