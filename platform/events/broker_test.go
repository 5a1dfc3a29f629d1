package events

import (
	"bytes"
	"crypto/ed25519"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events/natstest"
)

func TestCheckURLAndMaskURL(t *testing.T) {
	for s, want := range map[string]string{
		"nats://127.0.0.1:4222":        "",
		"nats://a:4222, tls://b:4222":  "",
		"":                             "must not be empty",
		"http://a:4222":                "want nats://host:port (comma separated for a cluster)",
		"nats://":                      "want nats://host:port (comma separated for a cluster)",
		"nats://a:4222,127.0.0.1:4222": "want nats://host:port (comma separated for a cluster)",
	} {
		assert.Equal(t, want, CheckURL(s), s)
	}
	masked := MaskURL("nats://app:s3cret@a:4222,nats://b:4222")
	assert.NotContains(t, masked, "s3cret")
	assert.Equal(t, "nats://xxxxx@a:4222,nats://b:4222", masked)
}

// A broker without credentials, a consumer without producer keys and a
// producer without a signing key are said out loud at start: none of them
// fails open silently.
func TestOpenBrokerWarnsWhenEventsAreUnauthenticated(t *testing.T) {
	t.Parallel()
	url := natstest.StartOpen(t).URL()
	open := func(cfg BrokerConfig) string {
		var logs bytes.Buffer
		cfg.URL, cfg.Name = url, "warns"
		b, closeBroker, err := OpenBroker(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		require.NoError(t, err)
		closeBroker()
		assert.Equal(t, MaxEventAge(DefaultInboxRetention), b.MaxEventAge)
		return logs.String()
	}
	logs := open(BrokerConfig{Consumes: true, Produces: true})
	assert.Contains(t, logs, "level=WARN")
	assert.Contains(t, logs, "no credentials (NATS_USER empty)")
	assert.Contains(t, logs, "signatures are not checked (EVENTS_PRODUCER_KEYS empty)")
	assert.Contains(t, logs, "published unsigned (EVENTS_SIGNING_KEY empty)")

	key := newKey(t)
	logs = open(BrokerConfig{
		Consumes: true, Produces: true, SigningKey: key,
		ProducerKeys: map[string][]ed25519.PublicKey{"order": {public(key)}},
	})
	assert.NotContains(t, logs, "EVENTS_PRODUCER_KEYS empty")
	assert.NotContains(t, logs, "EVENTS_SIGNING_KEY empty")
}

// The oldest signed event accepted stays below the inbox retention, so a
// replay always meets either its inbox row or this limit.
func TestMaxEventAge(t *testing.T) {
	assert.Equal(t, 7*24*time.Hour-ReplayMargin, MaxEventAge(7*24*time.Hour))
	assert.Equal(t, 90*time.Second, MaxEventAge(3*time.Minute))
	for _, r := range []time.Duration{3 * time.Minute, time.Hour, 3 * time.Hour, 30 * 24 * time.Hour} {
		assert.Less(t, MaxEventAge(r), r, r)
		assert.Positive(t, MaxEventAge(r), r)
	}
}
