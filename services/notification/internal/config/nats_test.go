package config_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/notification/internal/config"
)

// TestConsumerSettings checks that the notification reads the keys of an event
// consumer from the environment and applies their rules through its
// Validate; events.ConsumerSettings' own tests cover each rule.
func TestConsumerSettings(t *testing.T) {
	env := map[string]string{"NATS_USER": "notification", "NATS_PASSWORD": "n4ts-s3cret", "INBOX_RETENTION": "36h"}
	getenv := func(k string) string { return env[k] }
	_, err := config.Load("", getenv)
	assert.ErrorContains(t, err, `EVENTS_PRODUCER_KEYS="": must be set when NATS_USER is`, "credentials without keys would let events go unchecked")

	env["EVENTS_PRODUCER_KEYS"] = "order:" + events.EncodeKey(make(ed25519.PublicKey, ed25519.PublicKeySize))
	c, err := config.Load("", getenv)
	require.NoError(t, err)
	assert.Equal(t, events.ConsumerSettings{
		ConnSettings:       events.ConnSettings{NATSURL: events.DefaultURL, NATSUser: "notification", NATSPassword: "n4ts-s3cret"},
		InboxRetention:     36 * time.Hour,
		EventsProducerKeys: env["EVENTS_PRODUCER_KEYS"],
	}, c.ConsumerSettings)
}
