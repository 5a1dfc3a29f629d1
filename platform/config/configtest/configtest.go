// Package configtest holds the checks that every service's configuration
// must pass, so that each service's config tests call them instead of
// keeping a copy.
package configtest

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/events"
)

// EveryEnvVarHasHelp asserts that every env-tagged field of cfg (a pointer
// to a service's config struct), the service's own and the embedded ones,
// carries a help tag, so that -help's DESCRIPTION column stays filled.
func EveryEnvVarHasHelp(t testing.TB, cfg any) {
	t.Helper()
	vars, err := config.EnvVars(cfg)
	require.NoError(t, err)
	require.NotEmpty(t, vars)
	for _, v := range vars {
		assert.NotEmpty(t, v.Doc, "%s has no help tag", v.Name)
	}
}

// ConsumerSettings asserts that the service named service reads the keys of
// an event consumer from the environment and applies their rules through
// its Validate; events.ConsumerSettings' own tests cover each rule. load
// loads the service's config from getenv and returns its ConsumerSettings.
func ConsumerSettings(t testing.TB, service string, load func(getenv func(string) string) (events.ConsumerSettings, error)) {
	t.Helper()
	env := map[string]string{"NATS_USER": service, "NATS_PASSWORD": "n4ts-s3cret", "INBOX_RETENTION": "36h"}
	getenv := func(k string) string { return env[k] }
	_, err := load(getenv)
	assert.ErrorContains(t, err, `EVENTS_PRODUCER_KEYS="": must be set when NATS_USER is`, "credentials without keys would let events go unchecked")

	env["EVENTS_PRODUCER_KEYS"] = "order:" + events.EncodeKey(make(ed25519.PublicKey, ed25519.PublicKeySize))
	got, err := load(getenv)
	require.NoError(t, err)
	assert.Equal(t, events.ConsumerSettings{
		ConnSettings:       events.ConnSettings{NATSURL: events.DefaultURL, NATSUser: service, NATSPassword: "n4ts-s3cret"},
		InboxRetention:     36 * time.Hour,
		EventsProducerKeys: env["EVENTS_PRODUCER_KEYS"],
	}, got)
}
