package events

import (
	"errors"
	"fmt"
	"time"

	apievents "github.com/slipway-dev/slipway/api/events"
	"github.com/slipway-dev/slipway/platform/config"
)

// DefaultURL is the NATS server a service connects to by default: a local
// broker.
const DefaultURL = "nats://127.0.0.1:4222"

// ConnSettings are a service's configuration keys for its NATS connection,
// read by platform/config. A service config embeds them (through
// ConsumerSettings or ProducerSettings) with yaml:",inline".
type ConnSettings struct {
	// NATSURL is the NATS JetStream server (comma separated for a cluster).
	NATSURL string `yaml:"nats_url" env:"NATS_URL" redact:"url" help:"NATS JetStream server URL (comma separated for a cluster)"`
	// NATSUser and NATSPassword authenticate the service to NATS as its own
	// user, whose permissions allow only what the service needs (the
	// matrix is events.Accesses in api/events). Both empty connect without
	// credentials, to a broker that has no users.
	NATSUser     string `yaml:"nats_user" env:"NATS_USER" help:"the service's own NATS user; empty connects without credentials"`
	NATSPassword string `yaml:"nats_password" env:"NATS_PASSWORD" secret:"true" help:"password of NATS_USER"`
}

// Validate reports every problem of the connection keys as a
// *config.Error, joined; nil when there is none.
func (s ConnSettings) Validate() error {
	var errs []error
	if reason := CheckURL(s.NATSURL); reason != "" {
		errs = append(errs, &config.Error{Key: "NATS_URL", Value: MaskURL(s.NATSURL), Reason: reason})
	}
	if key, reason := CheckCredentials(s.NATSUser, s.NATSPassword); reason != "" {
		value := s.NATSUser
		if key == "NATS_PASSWORD" {
			value = "" // the password is never shown
		}
		errs = append(errs, &config.Error{Key: key, Value: value, Reason: reason})
	}
	return errors.Join(errs...)
}

// ConsumerSettings are the configuration keys of a service that consumes
// events: its connection, how long it keeps the ids of processed events,
// and the producers' keys it checks signatures with.
type ConsumerSettings struct {
	ConnSettings `yaml:",inline"`
	// InboxRetention is how long the consumer keeps the id of an event it
	// processed; older inbox rows are pruned. It must exceed the stream's
	// duplicate window (DuplicateWindow, 2m).
	InboxRetention time.Duration `yaml:"inbox_retention" env:"INBOX_RETENTION" help:"how long the ids of processed events are kept; must exceed the 2m duplicate window"`
	// EventsProducerKeys are the producers' Ed25519 public keys,
	// "order:<base64>[,order:<base64 of the previous key>]". When set, an
	// event without a valid signature of its subject's producer is rejected
	// and dead-lettered. Required when NATS_USER is set; empty (a plain
	// local broker only): signatures are not checked, with a warning at start.
	EventsProducerKeys string `yaml:"events_producer_keys" env:"EVENTS_PRODUCER_KEYS" help:"producers' Ed25519 public keys, order:<base64>[,order:<base64>]; empty: unchecked"`
}

// DefaultConsumerSettings are a consumer's settings with their defaults: a
// local broker without credentials, DefaultInboxRetention, no keys.
func DefaultConsumerSettings() ConsumerSettings {
	return ConsumerSettings{ConnSettings: ConnSettings{NATSURL: DefaultURL}, InboxRetention: DefaultInboxRetention}
}

// Validate reports every problem of the consumer's keys as a
// *config.Error, joined; nil when there is none. producer is the service
// whose events it consumes: EVENTS_PRODUCER_KEYS must hold its key, and must
// be set at all when NATS_USER is, or anyone holding NATS credentials could
// forge events.
func (s ConsumerSettings) Validate(producer string) error {
	errs := []error{s.ConnSettings.Validate()}
	bad := func(key, value, reason string) {
		errs = append(errs, &config.Error{Key: key, Value: value, Reason: reason})
	}
	if reason := CheckInboxRetention(s.InboxRetention); reason != "" {
		bad("INBOX_RETENTION", s.InboxRetention.String(), reason)
	}
	if reason := CheckProducerKeys(s.EventsProducerKeys, producer); reason != "" {
		bad("EVENTS_PRODUCER_KEYS", s.EventsProducerKeys, reason)
	} else if s.EventsProducerKeys == "" && s.NATSUser != "" {
		bad("EVENTS_PRODUCER_KEYS", "", fmt.Sprintf("must be set when NATS_USER is: without %[1]s's public key (%[1]s:<base64>) anyone holding NATS credentials could forge events", producer))
	}
	return errors.Join(errs...)
}

// BrokerConfig is how the consumer service name connects: with its
// credentials and producer keys, making sure the stream it dead-letters to
// (DEADLETTER) exists. The streams it consumes are their producers' to
// create, so it starts before them.
func (s ConsumerSettings) BrokerConfig(name string) (BrokerConfig, error) {
	keys, err := ParseProducerKeys(s.EventsProducerKeys)
	if err != nil {
		return BrokerConfig{}, fmt.Errorf("EVENTS_PRODUCER_KEYS: %w", err)
	}
	return BrokerConfig{
		URL: s.NATSURL, Name: name, User: s.NATSUser, Password: s.NATSPassword,
		Reads:          []Stream{{Name: apievents.StreamDeadLetter, Subjects: apievents.SubjectsDeadLetter}},
		ProducerKeys:   keys,
		InboxRetention: s.InboxRetention, // signed events older than that are refused as replays
		Consumes:       true,             // warns when events go unchecked
	}, nil
}

// ProducerSettings are the configuration keys of a service that publishes
// events: its connection and the key it signs them with.
type ProducerSettings struct {
	ConnSettings `yaml:",inline"`
	// EventsSigningKey is the base64 of the Ed25519 seed the producer signs
	// every event with (Slipway-Signature), so consumers holding its public
	// key (EVENTS_PRODUCER_KEYS) can tell its events from a forgery even by
	// someone who has NATS credentials. Required when NATS_USER is set;
	// empty (a plain local broker only): events go unsigned, with a warning.
	EventsSigningKey string `yaml:"events_signing_key" env:"EVENTS_SIGNING_KEY" secret:"true" help:"base64 of the 32-byte Ed25519 seed events are signed with; required with NATS_USER"`
}

// DefaultProducerSettings are a producer's settings with their defaults: a
// local broker without credentials, no signing key.
func DefaultProducerSettings() ProducerSettings {
	return ProducerSettings{ConnSettings: ConnSettings{NATSURL: DefaultURL}}
}

// Validate reports every problem of the producer's keys as a
// *config.Error, joined; nil when there is none. EVENTS_SIGNING_KEY must be
// set when NATS_USER is, since consumers with NATS credentials check
// signatures.
func (s ProducerSettings) Validate() error {
	errs := []error{s.ConnSettings.Validate()}
	if _, err := ParseSigningKey(s.EventsSigningKey); err != nil {
		errs = append(errs, &config.Error{Key: "EVENTS_SIGNING_KEY", Value: "<secret>", Reason: err.Error()})
	} else if s.EventsSigningKey == "" && s.NATSUser != "" {
		errs = append(errs, &config.Error{Key: "EVENTS_SIGNING_KEY", Value: "", Reason: "must be set when NATS_USER is: consumers with NATS credentials check signatures (base64 of a 32-byte Ed25519 seed)"})
	}
	return errors.Join(errs...)
}
