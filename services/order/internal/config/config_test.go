package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/services/order/internal/config"
)

// env is a getenv over m with the one key every start needs.
func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		if k == "SERVICE_ACCOUNT_PASSWORD" {
			return "s3cret-password"
		}
		return ""
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Load("", env(nil))
	require.NoError(t, err)
	assert.Equal(t, "order", c.Service)
	assert.Equal(t, ":50052", c.GRPCAddr)
	assert.Equal(t, ":8082", c.HTTPAddr)
	assert.Equal(t, "nats://127.0.0.1:4222", c.NATSURL)
	assert.Equal(t, "127.0.0.1:50053", c.InventoryAddr)
	assert.Equal(t, "127.0.0.1:50051", c.UserAddr)
	assert.Equal(t, "static", c.Discovery)
	assert.Equal(t, 3*time.Second, c.PeerTimeout)
	assert.Equal(t, "order@service.slipway.local", c.ServiceAccountEmail())
	assert.Equal(t, 10.0, c.OrderRateLimit)
	assert.Equal(t, 20, c.OrderRateBurst)
	assert.Empty(t, c.RedisURL, "the rate limit is in memory unless REDIS_URL is set")
	assert.Equal(t, 10*time.Second, c.PaymentDeadline)
	assert.Equal(t, 3*time.Second, c.PaymentSyncBudget)
	assert.Equal(t, 100*time.Millisecond, c.PaymentRetryInitial)
	assert.Equal(t, 2*time.Second, c.PaymentRetryMax)
	assert.Equal(t, 5*time.Second, c.SagaRecoveryInterval)
	assert.Equal(t, 5*time.Second, c.SagaRecoveryGrace)
	assert.Equal(t, 30*time.Second, c.SagaRecoveryLease)
}

func TestEnvironmentWinsOverTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "order.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join([]string{
		"nats_url: nats://file:4222",
		"inventory_addr: inventory:50053",
		"peer_timeout: 2s",
		"service_account_name: orders-eu",
	}, "\n")), 0o600))
	c, err := config.Load(path, env(map[string]string{
		"NATS_URL":       "nats://env:4222,nats://env2:4222",
		"DISCOVERY":      "etcd://etcd-1:2379,etcd-2:2379",
		"PEER_TIMEOUT":   "750ms",
		"USER_ADDR":      "dns:///user:50051",
		"ADVERTISE_ADDR": "10.0.0.7:50052",
	}))
	require.NoError(t, err)
	assert.Equal(t, "nats://env:4222,nats://env2:4222", c.NATSURL)
	assert.Equal(t, "inventory:50053", c.InventoryAddr)
	assert.Equal(t, "dns:///user:50051", c.UserAddr)
	assert.Equal(t, "etcd://etcd-1:2379,etcd-2:2379", c.Discovery)
	assert.Equal(t, 750*time.Millisecond, c.PeerTimeout)
	assert.Equal(t, "10.0.0.7:50052", c.AdvertiseAddr)
	assert.Equal(t, "orders-eu@service.slipway.local", c.ServiceAccountEmail())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, key, value string
		wantErr          string // "" for valid
	}{
		{name: "no password", key: "SERVICE_ACCOUNT_PASSWORD", value: "", wantErr: "SERVICE_ACCOUNT_PASSWORD"},
		{name: "a short password", key: "SERVICE_ACCOUNT_PASSWORD", value: "short", wantErr: "at least 8"},
		{name: "a nats url of another scheme", key: "NATS_URL", value: "http://127.0.0.1:4222", wantErr: "NATS_URL"},
		{name: "an empty nats url", key: "NATS_URL", value: " ", wantErr: "NATS_URL"},
		{name: "an unknown discovery", key: "DISCOVERY", value: "consul://x", wantErr: "DISCOVERY"},
		{name: "etcd without endpoints", key: "DISCOVERY", value: "etcd://", wantErr: "DISCOVERY"},
		{name: "etcd", key: "DISCOVERY", value: "etcd://127.0.0.1:2379"},
		{name: "an inventory address without a port", key: "INVENTORY_ADDR", value: "inventory", wantErr: "INVENTORY_ADDR"},
		{name: "an inventory gRPC target", key: "INVENTORY_ADDR", value: "dns:///inventory:50053"},
		{name: "two inventory instances", key: "INVENTORY_ADDR", value: "127.0.0.1:50053,127.0.0.1:50153"},
		{name: "an inventory list with an empty entry", key: "INVENTORY_ADDR", value: "127.0.0.1:50053,", wantErr: "INVENTORY_ADDR"},
		{name: "an inventory list with an instance twice", key: "PAYMENT_ADDR", value: "127.0.0.1:50055,127.0.0.1:50055", wantErr: "PAYMENT_ADDR"},
		{name: "a zero peer timeout", key: "PEER_TIMEOUT", value: "0s", wantErr: "PEER_TIMEOUT"},
		{name: "a peer timeout over a minute", key: "PEER_TIMEOUT", value: "2m", wantErr: "PEER_TIMEOUT"},
		{name: "a service account with a domain", key: "SERVICE_ACCOUNT_NAME", value: "order@evil", wantErr: "SERVICE_ACCOUNT_NAME"},
		{name: "an unspecified advertise host", key: "ADVERTISE_ADDR", value: "0.0.0.0:50052", wantErr: "ADVERTISE_ADDR"},
		{name: "a base key", key: "GRPC_ADDR", value: "nope", wantErr: "GRPC_ADDR"},
		{name: "no rate limit", key: "ORDER_RATE_LIMIT", value: "0"},
		{name: "a fractional rate", key: "ORDER_RATE_LIMIT", value: "0.5"},
		{name: "a negative rate", key: "ORDER_RATE_LIMIT", value: "-1", wantErr: `ORDER_RATE_LIMIT="-1": want orders per second from 0 (no limit) to 1e6`},
		{name: "a rate too high to enforce", key: "ORDER_RATE_LIMIT", value: "2e6", wantErr: "ORDER_RATE_LIMIT"},
		{name: "a rate that is no number", key: "ORDER_RATE_LIMIT", value: "fast", wantErr: "ORDER_RATE_LIMIT"},
		{name: "a zero burst", key: "ORDER_RATE_BURST", value: "0", wantErr: `ORDER_RATE_BURST="0": want at least 1 when ORDER_RATE_LIMIT is set`},
		{name: "a redis url", key: "REDIS_URL", value: "rediss://cache.example.com:6380/1"},
		{name: "a redis url of another scheme", key: "REDIS_URL", value: "tcp://redis:6379", wantErr: "REDIS_URL"},
		{name: "a longer payment deadline", key: "PAYMENT_DEADLINE", value: "30s"},
		{name: "a zero payment deadline", key: "PAYMENT_DEADLINE", value: "0s", wantErr: "PAYMENT_DEADLINE"},
		{name: "a payment deadline shorter than the sync budget", key: "PAYMENT_DEADLINE", value: "1s", wantErr: "PAYMENT_SYNC_BUDGET"},
		{name: "a longest retry wait under the first", key: "PAYMENT_RETRY_MAX", value: "10ms", wantErr: "want at least PAYMENT_RETRY_INITIAL"},
		{name: "a grace shorter than the sync budget", key: "SAGA_RECOVERY_GRACE", value: "1s", wantErr: "SAGA_RECOVERY_GRACE"},
		{name: "a lease shorter than the deadline", key: "SAGA_RECOVERY_LEASE", value: "5s", wantErr: "SAGA_RECOVERY_LEASE"},
		{name: "no recovery interval", key: "SAGA_RECOVERY_INTERVAL", value: "0s", wantErr: "SAGA_RECOVERY_INTERVAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load("", env(map[string]string{tt.key: tt.value}))
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
	t.Run("the saga's keys make the domain's saga configuration", func(t *testing.T) {
		c, err := config.Load("", env(map[string]string{"PAYMENT_DEADLINE": "20s", "PAYMENT_SYNC_BUDGET": "2s", "SAGA_RECOVERY_GRACE": "4s"}))
		require.NoError(t, err)
		saga := c.Saga()
		assert.Equal(t, 20*time.Second, saga.Deadline)
		assert.Equal(t, 2*time.Second, saga.SyncBudget)
		assert.Equal(t, 4*time.Second, saga.Grace)
		assert.NoError(t, saga.Validate())
	})
	t.Run("every problem at once, the password never shown", func(t *testing.T) {
		_, err := config.Load("", env(map[string]string{"NATS_URL": "x", "SERVICE_ACCOUNT_PASSWORD": "tiny"}))
		require.Error(t, err)
		assert.ErrorContains(t, err, "NATS_URL")
		assert.ErrorContains(t, err, "SERVICE_ACCOUNT_PASSWORD")
		assert.NotContains(t, err.Error(), "tiny")
	})
}

func TestTheServiceAccountPasswordIsRedacted(t *testing.T) {
	c, err := config.Load("", env(nil))
	require.NoError(t, err)
	redacted := platformconfig.Redacted(c)
	assert.Equal(t, "order", redacted["service_account_name"])
	assert.NotContains(t, redacted["service_account_password"], "s3cret")
	assert.True(t, strings.HasPrefix(redacted["service_account_password"].(string), "hmac-sha256:"))
}
