package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/services/inventory/internal/config"
)

func TestDefault(t *testing.T) {
	c := config.Default()
	assert.Equal(t, "inventory", c.Service)
	assert.Equal(t, ":50053", c.GRPCAddr)
	assert.Equal(t, ":8083", c.HTTPAddr)
	assert.Equal(t, "sqlite://.slipway/data/inventory.db", c.DatabaseURL)
	assert.True(t, c.SeedCatalog)
	assert.Equal(t, "nats://127.0.0.1:4222", c.NATSURL)
	assert.Equal(t, 15*time.Minute, c.ReservationTTL)
	assert.Equal(t, 30*time.Second, c.ReservationSweepInterval)
	assert.Equal(t, time.Second, c.ProductCacheTTL)
	assert.NoError(t, c.Validate())
}

func TestEventKeys(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c *config.Config)
		wantErr string
	}{
		{
			name: "from the environment",
			env:  map[string]string{"NATS_URL": "nats://a:4222,nats://b:4222", "RESERVATION_TTL": "2m", "RESERVATION_SWEEP_INTERVAL": "5s"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "nats://a:4222,nats://b:4222", c.NATSURL)
				assert.Equal(t, 2*time.Minute, c.ReservationTTL)
				assert.Equal(t, 5*time.Second, c.ReservationSweepInterval)
			},
		},
		{name: "not a nats url", env: map[string]string{"NATS_URL": "http://nats:4222"}, wantErr: "NATS_URL"},
		{name: "a nats url's password is not shown", env: map[string]string{"NATS_URL": "nats://me:hunter2@nats"}, check: func(t *testing.T, c *config.Config) {
			assert.NotContains(t, fmt.Sprint(platformconfig.Redacted(c)), "hunter2")
		}},
		{name: "a bad url's password is not shown", env: map[string]string{"NATS_URL": "http://me:hunter2@nats"}, wantErr: "NATS_URL"},
		{name: "a ttl that is no duration", env: map[string]string{"RESERVATION_TTL": "soon"}, wantErr: "RESERVATION_TTL"},
		{name: "a zero ttl", env: map[string]string{"RESERVATION_TTL": "0s"}, wantErr: "RESERVATION_TTL"},
		{name: "a product cache ttl", env: map[string]string{"PRODUCT_CACHE_TTL": "250ms"}, check: func(t *testing.T, c *config.Config) {
			assert.Equal(t, 250*time.Millisecond, c.ProductCacheTTL)
		}},
		{name: "no product cache", env: map[string]string{"PRODUCT_CACHE_TTL": "0s"}, check: func(t *testing.T, c *config.Config) {
			assert.Zero(t, c.ProductCacheTTL)
		}},
		{name: "a negative product cache ttl", env: map[string]string{"PRODUCT_CACHE_TTL": "-1s"}, wantErr: "PRODUCT_CACHE_TTL"},
		{name: "a negative sweep interval", env: map[string]string{"RESERVATION_SWEEP_INTERVAL": "-1s"}, wantErr: "RESERVATION_SWEEP_INTERVAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load("", func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "hunter2")
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
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
