package events_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apievents "github.com/slipway-dev/slipway/api/events"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/events"
)

// password is a NATS password no error may print.
const password = "n4ts-s3cret"

// newKeys returns a fresh Ed25519 key pair as EVENTS_SIGNING_KEY and
// EVENTS_PRODUCER_KEYS for producer order.
func newKeys(t *testing.T) (signing, producerKeys string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return events.EncodeKey(priv), "order:" + events.EncodeKey(pub)
}

// loadEnv loads s from env alone, as a service config embedding it does.
func loadEnv[S any](t *testing.T, env map[string]string, s *S) {
	t.Helper()
	require.NoError(t, config.Load(s, "", func(k string) string { return env[k] }))
}

// assertConfigError checks that err holds a *config.Error whose message
// contains want, and that no error shows the password.
func assertConfigError(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		assert.NoError(t, err)
		return
	}
	require.Error(t, err)
	var ce *config.Error
	assert.True(t, errors.As(err, &ce), "a *config.Error: %v", err)
	assert.ErrorContains(t, err, want)
	assert.NotContains(t, err.Error(), password, "the password is never shown")
}

func TestSettingsLoadFromEnv(t *testing.T) {
	signing, producerKeys := newKeys(t)
	env := map[string]string{
		"NATS_URL":             "nats://a:4222,nats://b:4222",
		"NATS_USER":            "svc",
		"NATS_PASSWORD":        password,
		"INBOX_RETENTION":      "36h",
		"EVENTS_PRODUCER_KEYS": producerKeys,
		"EVENTS_SIGNING_KEY":   signing,
	}

	consumer := events.DefaultConsumerSettings()
	loadEnv(t, env, &consumer)
	assert.Equal(t, events.ConsumerSettings{
		ConnSettings:       events.ConnSettings{NATSURL: "nats://a:4222,nats://b:4222", NATSUser: "svc", NATSPassword: password},
		InboxRetention:     36 * time.Hour,
		EventsProducerKeys: producerKeys,
	}, consumer)

	producer := events.DefaultProducerSettings()
	loadEnv(t, env, &producer)
	assert.Equal(t, events.ProducerSettings{
		ConnSettings:     events.ConnSettings{NATSURL: "nats://a:4222,nats://b:4222", NATSUser: "svc", NATSPassword: password},
		EventsSigningKey: signing,
	}, producer)

	redacted := config.Redacted(&producer)
	assert.NotContains(t, redacted["nats_password"], password, "NATS_PASSWORD is a secret")
	assert.NotContains(t, redacted["events_signing_key"], signing, "EVENTS_SIGNING_KEY is a secret")
}

func TestSettingsDefaults(t *testing.T) {
	consumer := events.DefaultConsumerSettings()
	assert.Equal(t, events.DefaultURL, consumer.NATSURL)
	assert.Empty(t, consumer.NATSUser, "no credentials by default: a broker without users")
	assert.Equal(t, events.DefaultInboxRetention, consumer.InboxRetention)
	require.NoError(t, consumer.Validate("order"))

	producer := events.DefaultProducerSettings()
	assert.Equal(t, events.DefaultURL, producer.NATSURL)
	assert.Empty(t, producer.NATSUser)
	require.NoError(t, producer.Validate())
}

func TestConsumerSettingsValidate(t *testing.T) {
	_, producerKeys := newKeys(t)
	valid := func(edit func(*events.ConsumerSettings)) events.ConsumerSettings {
		s := events.DefaultConsumerSettings()
		s.NATSUser, s.NATSPassword, s.EventsProducerKeys = "svc", password, producerKeys
		edit(&s)
		return s
	}
	for _, tt := range []struct {
		name    string
		edit    func(*events.ConsumerSettings)
		wantErr string // "" for valid
	}{
		{"credentials and keys", func(*events.ConsumerSettings) {}, ""},
		{"no credentials and no keys: a plain local broker", func(s *events.ConsumerSettings) {
			s.NATSUser, s.NATSPassword, s.EventsProducerKeys = "", "", ""
		}, ""},
		{"an empty url", func(s *events.ConsumerSettings) { s.NATSURL = " " }, `NATS_URL=" ": must not be empty`},
		{"a url of another scheme", func(s *events.ConsumerSettings) { s.NATSURL = "http://127.0.0.1:4222" }, "NATS_URL"},
		{"a url's password is masked", func(s *events.ConsumerSettings) { s.NATSURL = "http://u:" + password + "@h:4222" }, "NATS_URL"},
		{"a user without a password", func(s *events.ConsumerSettings) { s.NATSPassword = "" }, `NATS_PASSWORD="": must be set when NATS_USER is`},
		{"a password without a user", func(s *events.ConsumerSettings) { s.NATSUser = "" }, `NATS_USER="": must be set when NATS_PASSWORD is`},
		{"a user name with a wildcard", func(s *events.ConsumerSettings) { s.NATSUser = "svc.>" }, "NATS_USER"},
		{"credentials without EVENTS_PRODUCER_KEYS", func(s *events.ConsumerSettings) { s.EventsProducerKeys = "" },
			`EVENTS_PRODUCER_KEYS="": must be set when NATS_USER is: without order's public key (order:<base64>) anyone holding NATS credentials could forge events`},
		{"keys of another producer", func(s *events.ConsumerSettings) { s.EventsProducerKeys = "billing" + producerKeys[len("order"):] },
			`no key of producer "order"`},
		{"a key that is not one", func(s *events.ConsumerSettings) { s.EventsProducerKeys = "order:not-a-key" }, "EVENTS_PRODUCER_KEYS"},
		{"an inbox retention within the duplicate window", func(s *events.ConsumerSettings) { s.InboxRetention = time.Minute },
			`INBOX_RETENTION="1m0s": want more than the stream's duplicate window`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertConfigError(t, valid(tt.edit).Validate(apievents.ServiceOrder), tt.wantErr)
		})
	}
}

func TestProducerSettingsValidate(t *testing.T) {
	signing, _ := newKeys(t)
	valid := func(edit func(*events.ProducerSettings)) events.ProducerSettings {
		s := events.DefaultProducerSettings()
		s.NATSUser, s.NATSPassword, s.EventsSigningKey = "order", password, signing
		edit(&s)
		return s
	}
	for _, tt := range []struct {
		name    string
		edit    func(*events.ProducerSettings)
		wantErr string // "" for valid
	}{
		{"credentials and a signing key", func(*events.ProducerSettings) {}, ""},
		{"no credentials and no key: a plain local broker", func(s *events.ProducerSettings) {
			s.NATSUser, s.NATSPassword, s.EventsSigningKey = "", "", ""
		}, ""},
		{"an empty url", func(s *events.ProducerSettings) { s.NATSURL = "" }, "NATS_URL"},
		{"a user without a password", func(s *events.ProducerSettings) { s.NATSPassword = "" }, "NATS_PASSWORD"},
		{"credentials without EVENTS_SIGNING_KEY", func(s *events.ProducerSettings) { s.EventsSigningKey = "" },
			`EVENTS_SIGNING_KEY="": must be set when NATS_USER is: consumers with NATS credentials check signatures`},
		{"a key too short, never shown", func(s *events.ProducerSettings) { s.EventsSigningKey = password },
			`EVENTS_SIGNING_KEY="<secret>": want the base64 of a 32-byte Ed25519 seed`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertConfigError(t, valid(tt.edit).Validate(), tt.wantErr)
		})
	}
}

func TestConsumerSettingsBrokerConfig(t *testing.T) {
	_, producerKeys := newKeys(t)
	s := events.DefaultConsumerSettings()
	s.NATSUser, s.NATSPassword, s.EventsProducerKeys, s.InboxRetention = "inventory", password, producerKeys, 36*time.Hour

	bc, err := s.BrokerConfig("inventory")
	require.NoError(t, err)
	assert.Equal(t, events.DefaultURL, bc.URL)
	assert.Equal(t, "inventory", bc.Name)
	assert.Equal(t, "inventory", bc.User)
	assert.Equal(t, password, bc.Password)
	assert.Equal(t, []events.Stream{{Name: apievents.StreamDeadLetter, Subjects: apievents.SubjectsDeadLetter}}, bc.Reads,
		"a consumer dead-letters, so DEADLETTER must exist")
	assert.Empty(t, bc.Owns, "the streams it consumes are their producers'")
	assert.Len(t, bc.ProducerKeys["order"], 1)
	assert.Equal(t, 36*time.Hour, bc.InboxRetention)
	assert.True(t, bc.Consumes)
	assert.False(t, bc.Produces)

	s.EventsProducerKeys = ""
	bc, err = s.BrokerConfig("inventory")
	require.NoError(t, err)
	assert.Nil(t, bc.ProducerKeys, "no keys: signatures are not checked")

	s.EventsProducerKeys = "order:not-a-key"
	_, err = s.BrokerConfig("inventory")
	assert.ErrorContains(t, err, "EVENTS_PRODUCER_KEYS: ")
}
