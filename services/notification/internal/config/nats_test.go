package config_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/notification/internal/config"
)

func TestNATSCredentials(t *testing.T) {
	load := func(env map[string]string) (*config.Config, error) {
		all := map[string]string{}
		for k, v := range env {
			all[k] = v
		}
		return config.Load("", func(k string) string { return all[k] })
	}
	c, err := load(nil)
	require.NoError(t, err)
	assert.Empty(t, c.NATSUser, "no credentials by default: a broker without users")

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	c, err = load(map[string]string{"NATS_USER": "notification", "NATS_PASSWORD": "n4ts-s3cret", "EVENTS_PRODUCER_KEYS": "order:" + events.EncodeKey(pub)})
	require.NoError(t, err)
	assert.Equal(t, "notification", c.NATSUser)
	assert.Equal(t, "n4ts-s3cret", c.NATSPassword)

	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"a user without a password", map[string]string{"NATS_USER": "notification"}, "NATS_PASSWORD"},
		{"a password without a user", map[string]string{"NATS_PASSWORD": "n4ts-s3cret"}, "NATS_USER"},
		{"a user name with a wildcard", map[string]string{"NATS_USER": "notification.>", "NATS_PASSWORD": "n4ts-s3cret"}, "NATS_USER"},
		// Credentials without event keys: signature checks would fail open.
		{"credentials without EVENTS_PRODUCER_KEYS", map[string]string{"NATS_USER": "notification", "NATS_PASSWORD": "n4ts-s3cret"}, "EVENTS_PRODUCER_KEYS=\"\": must be set when NATS_USER is"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.env)
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.NotContains(t, err.Error(), "n4ts-s3cret", "the password is never shown")
		})
	}

	t.Run("inbox retention", func(t *testing.T) {
		c, err := load(nil)
		require.NoError(t, err)
		assert.Equal(t, 7*24*time.Hour, c.InboxRetention)
		c, err = load(map[string]string{"INBOX_RETENTION": "36h"})
		require.NoError(t, err)
		assert.Equal(t, 36*time.Hour, c.InboxRetention)
		_, err = load(map[string]string{"INBOX_RETENTION": "1m"})
		assert.ErrorContains(t, err, "INBOX_RETENTION")
		assert.ErrorContains(t, err, "duplicate window")
	})
}

func TestEventsProducerKeys(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	load := func(v string) (*config.Config, error) {
		return config.Load("", func(k string) string { return map[string]string{"EVENTS_PRODUCER_KEYS": v}[k] })
	}
	c, err := load("order:" + events.EncodeKey(pub))
	require.NoError(t, err)
	assert.Equal(t, "order:"+events.EncodeKey(pub), c.EventsProducerKeys)
	_, err = load("billing:" + events.EncodeKey(pub))
	assert.ErrorContains(t, err, "EVENTS_PRODUCER_KEYS")
	assert.ErrorContains(t, err, `no key of producer "order"`)
	_, err = load("order:not-a-key")
	assert.ErrorContains(t, err, "EVENTS_PRODUCER_KEYS")
}
