package config_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/order/internal/config"
)

func TestNATSCredentials(t *testing.T) {
	load := func(env map[string]string) (*config.Config, error) {
		all := map[string]string{"SERVICE_ACCOUNT_PASSWORD": "service-account-pw"}
		for k, v := range env {
			all[k] = v
		}
		return config.Load("", func(k string) string { return all[k] })
	}
	c, err := load(nil)
	require.NoError(t, err)
	assert.Empty(t, c.NATSUser, "no credentials by default: a broker without users")

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	c, err = load(map[string]string{"NATS_USER": "order", "NATS_PASSWORD": "n4ts-s3cret", "EVENTS_SIGNING_KEY": events.EncodeKey(priv)})
	require.NoError(t, err)
	assert.Equal(t, "order", c.NATSUser)
	assert.Equal(t, "n4ts-s3cret", c.NATSPassword)

	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"a user without a password", map[string]string{"NATS_USER": "order"}, "NATS_PASSWORD"},
		{"a password without a user", map[string]string{"NATS_PASSWORD": "n4ts-s3cret"}, "NATS_USER"},
		{"a user name with a wildcard", map[string]string{"NATS_USER": "order.>", "NATS_PASSWORD": "n4ts-s3cret"}, "NATS_USER"},
		// Credentials without event keys: signature checks would fail open.
		{"credentials without EVENTS_SIGNING_KEY", map[string]string{"NATS_USER": "order", "NATS_PASSWORD": "n4ts-s3cret"}, "EVENTS_SIGNING_KEY=\"\": must be set when NATS_USER is"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.env)
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.NotContains(t, err.Error(), "n4ts-s3cret", "the password is never shown")
		})
	}
}

func TestEventsSigningKey(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	load := func(v string) (*config.Config, error) {
		return config.Load("", func(k string) string {
			return map[string]string{"SERVICE_ACCOUNT_PASSWORD": "service-account-pw", "EVENTS_SIGNING_KEY": v}[k]
		})
	}
	c, err := load(events.EncodeKey(key))
	require.NoError(t, err)
	assert.Equal(t, events.EncodeKey(key), c.EventsSigningKey)
	_, err = load("c2VjcmV0LWJ1dC10b28tc2hvcnQ=")
	require.Error(t, err)
	assert.ErrorContains(t, err, "EVENTS_SIGNING_KEY")
	assert.NotContains(t, err.Error(), "c2VjcmV0LWJ1dC10b28tc2hvcnQ=", "the key is never shown")
}
