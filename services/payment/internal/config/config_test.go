package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	assert.Equal(t, config.ProviderSandbox, c.Provider)
	assert.Equal(t, "https://api.stripe.com", c.StripeAPIURL)
	assert.Equal(t, 40*time.Millisecond, c.SandboxLatencyMedian)
	assert.Equal(t, 80*time.Millisecond, c.SandboxLatencyP99)
	assert.Zero(t, c.SandboxTransientRate)
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

func TestLoadProviderKeys(t *testing.T) {
	stripe := map[string]string{"PAYMENT_PROVIDER": "stripe", "STRIPE_API_KEY": "sk_test_123", "STRIPE_WEBHOOK_SECRET": "whsec_abc", "STRIPE_API_URL": "http://127.0.0.1:12111"}
	c, err := config.Load("", func(k string) string { return stripe[k] })
	require.NoError(t, err)
	assert.Equal(t, config.ProviderStripe, c.Provider)
	assert.Equal(t, "sk_test_123", c.StripeAPIKey)
	assert.Equal(t, "whsec_abc", c.StripeWebhookSecret)
	assert.Equal(t, "http://127.0.0.1:12111", c.StripeAPIURL)

	chaos := map[string]string{"SANDBOX_LATENCY_MEDIAN": "5ms", "SANDBOX_LATENCY_P99": "50ms", "SANDBOX_TRANSIENT_RATE": "0.25"}
	c, err = config.Load("", func(k string) string { return chaos[k] })
	require.NoError(t, err)
	assert.Equal(t, 5*time.Millisecond, c.SandboxLatencyMedian)
	assert.Equal(t, 50*time.Millisecond, c.SandboxLatencyP99)
	assert.InDelta(t, 0.25, c.SandboxTransientRate, 1e-9)

	file := filepath.Join(t.TempDir(), "payment.yaml")
	require.NoError(t, os.WriteFile(file, []byte("payment_provider: stripe\nstripe_api_key: sk_test_file\nsandbox_transient_rate: 0.5\n"), 0o600))
	c, err = config.Load(file, func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, config.ProviderStripe, c.Provider)
	assert.Equal(t, "sk_test_file", c.StripeAPIKey)
	assert.InDelta(t, 0.5, c.SandboxTransientRate, 1e-9)
}

func TestValidateRefusesBadProviderKeys(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"an unknown provider", map[string]string{"PAYMENT_PROVIDER": "paypal"}, "PAYMENT_PROVIDER"},
		{"stripe without an API key", map[string]string{"PAYMENT_PROVIDER": "stripe"}, "STRIPE_API_KEY"},
		{"a Stripe URL that is not http(s)", map[string]string{"STRIPE_API_URL": "ftp://stripe"}, "STRIPE_API_URL"},
		{"a relative Stripe URL", map[string]string{"STRIPE_API_URL": "/v1"}, "STRIPE_API_URL"},
		{"a negative median latency", map[string]string{"SANDBOX_LATENCY_MEDIAN": "-1ms"}, "SANDBOX_LATENCY_MEDIAN"},
		{"a median latency above a minute", map[string]string{"SANDBOX_LATENCY_MEDIAN": "2m", "SANDBOX_LATENCY_P99": "3m"}, "SANDBOX_LATENCY_MEDIAN"},
		{"a p99 below the median", map[string]string{"SANDBOX_LATENCY_MEDIAN": "50ms", "SANDBOX_LATENCY_P99": "10ms"}, "SANDBOX_LATENCY_P99"},
		{"a transient rate above 1", map[string]string{"SANDBOX_TRANSIENT_RATE": "1.5"}, "SANDBOX_TRANSIENT_RATE"},
		{"a negative transient rate", map[string]string{"SANDBOX_TRANSIENT_RATE": "-0.1"}, "SANDBOX_TRANSIENT_RATE"},
		{"a transient rate that is not a number", map[string]string{"SANDBOX_TRANSIENT_RATE": "NaN"}, "SANDBOX_TRANSIENT_RATE"},
		{"a latency that is not a duration", map[string]string{"SANDBOX_LATENCY_P99": "soon"}, "SANDBOX_LATENCY_P99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load("", func(k string) string { return tt.env[k] })
			assert.ErrorContains(t, err, tt.want)
		})
	}
	t.Run("every problem is reported at once", func(t *testing.T) {
		env := map[string]string{"PAYMENT_PROVIDER": "stripe", "SANDBOX_TRANSIENT_RATE": "2"}
		_, err := config.Load("", func(k string) string { return env[k] })
		require.Error(t, err)
		for _, key := range []string{"STRIPE_API_KEY", "SANDBOX_TRANSIENT_RATE"} {
			assert.True(t, strings.Contains(err.Error(), key), "%s missing from %v", key, err)
		}
	})
	t.Run("the API key is a secret", func(t *testing.T) {
		env := map[string]string{"PAYMENT_PROVIDER": "paypal", "STRIPE_API_KEY": "sk_live_topsecret"}
		_, err := config.Load("", func(k string) string { return env[k] })
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "sk_live_topsecret")
	})
}
