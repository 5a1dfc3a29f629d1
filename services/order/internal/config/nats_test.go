package config_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/order/internal/config"
)

// TestProducerSettings checks that the order service reads the keys of an
// event producer from the environment and applies their rules through its
// Validate; events.ProducerSettings' own tests cover each rule.
func TestProducerSettings(t *testing.T) {
	env := map[string]string{"SERVICE_ACCOUNT_PASSWORD": "service-account-pw", "NATS_USER": "order", "NATS_PASSWORD": "n4ts-s3cret"}
	getenv := func(k string) string { return env[k] }
	_, err := config.Load("", getenv)
	assert.ErrorContains(t, err, `EVENTS_SIGNING_KEY="": must be set when NATS_USER is`, "credentials without a key would publish unsigned events")

	env["EVENTS_SIGNING_KEY"] = events.EncodeKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	c, err := config.Load("", getenv)
	require.NoError(t, err)
	assert.Equal(t, events.ProducerSettings{
		ConnSettings:     events.ConnSettings{NATSURL: events.DefaultURL, NATSUser: "order", NATSPassword: "n4ts-s3cret"},
		EventsSigningKey: env["EVENTS_SIGNING_KEY"],
	}, c.ProducerSettings)
}
