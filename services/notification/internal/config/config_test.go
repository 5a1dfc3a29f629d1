package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/services/notification/internal/config"
)

func TestDefault(t *testing.T) {
	c := config.Default()
	assert.Equal(t, "notification", c.Service)
	assert.Equal(t, ":50054", c.GRPCAddr)
	assert.Equal(t, ":8084", c.HTTPAddr)
	assert.Equal(t, "sqlite://.slipway/data/notification.db", c.DatabaseURL)
	assert.Equal(t, "nats://127.0.0.1:4222", c.NATSURL)
	assert.Empty(t, c.WebhookURL, "notifications go to the log by default")
	assert.Equal(t, 5*time.Second, c.WebhookTimeout)
	assert.Equal(t, 10, c.WebhookMaxAttempts)
	assert.Equal(t, 2*time.Second, c.WebhookBackoff)
	assert.Equal(t, 10*time.Minute, c.WebhookMaxBackoff)
	assert.NoError(t, c.Validate())
}

func TestLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notification.yaml")
	require.NoError(t, os.WriteFile(file, []byte("nats_url: nats://broker:4222\nwebhook_url: https://hooks.example.com/file\nwebhook_max_attempts: 2\n"), 0o600))

	tests := []struct {
		name        string
		path        string
		env         map[string]string
		wantNATS    string
		wantWebhook string
		wantTries   int
		wantErr     string
	}{
		{name: "defaults", wantNATS: "nats://127.0.0.1:4222", wantTries: 10},
		{name: "file over defaults", path: file, wantNATS: "nats://broker:4222", wantWebhook: "https://hooks.example.com/file", wantTries: 2},
		{
			name: "environment over file", path: file,
			env:      map[string]string{"NATS_URL": "nats://a:4222,nats://b:4222", "NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/env", "NOTIFY_WEBHOOK_MAX_ATTEMPTS": "3"},
			wantNATS: "nats://a:4222,nats://b:4222", wantWebhook: "http://127.0.0.1:9/env", wantTries: 3,
		},
		{name: "a NATS URL of another scheme", env: map[string]string{"NATS_URL": "http://broker:4222"}, wantErr: "NATS_URL"},
		{name: "a webhook URL that is not http", env: map[string]string{"NOTIFY_WEBHOOK_URL": "ftp://hooks"}, wantErr: "NOTIFY_WEBHOOK_URL"},
		{name: "a webhook timeout that is not a duration", env: map[string]string{"NOTIFY_WEBHOOK_TIMEOUT": "soon"}, wantErr: "NOTIFY_WEBHOOK_TIMEOUT"},
		{name: "a webhook timeout too short", env: map[string]string{"NOTIFY_WEBHOOK_TIMEOUT": "1ms"}, wantErr: "NOTIFY_WEBHOOK_TIMEOUT"},
		{name: "no attempts", env: map[string]string{"NOTIFY_WEBHOOK_MAX_ATTEMPTS": "0"}, wantErr: "NOTIFY_WEBHOOK_MAX_ATTEMPTS"},
		{name: "too many attempts", env: map[string]string{"NOTIFY_WEBHOOK_MAX_ATTEMPTS": "101"}, wantErr: "NOTIFY_WEBHOOK_MAX_ATTEMPTS"},
		{
			name:     "long attempts are fine: delivery runs outside the consumer",
			env:      map[string]string{"NOTIFY_WEBHOOK_URL": "https://hooks.example.com/x", "NOTIFY_WEBHOOK_TIMEOUT": "30s", "NOTIFY_WEBHOOK_MAX_ATTEMPTS": "20"},
			wantNATS: "nats://127.0.0.1:4222", wantWebhook: "https://hooks.example.com/x", wantTries: 20,
		},
		{name: "a backoff too short", env: map[string]string{"NOTIFY_WEBHOOK_BACKOFF": "1ms"}, wantErr: "NOTIFY_WEBHOOK_BACKOFF"},
		{name: "a backoff that is not a duration", env: map[string]string{"NOTIFY_WEBHOOK_BACKOFF": "later"}, wantErr: "NOTIFY_WEBHOOK_BACKOFF"},
		{
			name:    "a max backoff below the backoff",
			env:     map[string]string{"NOTIFY_WEBHOOK_BACKOFF": "1m", "NOTIFY_WEBHOOK_MAX_BACKOFF": "30s"},
			wantErr: "NOTIFY_WEBHOOK_MAX_BACKOFF",
		},
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
			assert.Equal(t, tt.wantNATS, c.NATSURL)
			assert.Equal(t, tt.wantWebhook, c.WebhookURL)
			assert.Equal(t, tt.wantTries, c.WebhookMaxAttempts)
		})
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	c := config.Default()
	c.WebhookURL = "https://hooks.example.com/services/T000/B000/very-secret"
	c.NATSURL = "nats://svc:hunter2@broker:4222"
	red := platformconfig.Redacted(c)
	assert.Regexp(t, `^hmac-sha256:[0-9a-f]{64}$`, red["webhook_url"])
	assert.NotContains(t, red["nats_url"], "hunter2")

	_, err := config.Load("", func(k string) string {
		return map[string]string{"NOTIFY_WEBHOOK_URL": "ftp://secret-token@hooks", "NATS_URL": "http://svc:hunter2@broker"}[k]
	})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret-token")
	assert.NotContains(t, err.Error(), "hunter2")
}
