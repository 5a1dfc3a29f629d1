// Package config is the inventory service's configuration: the platform's
// common keys plus its own, with defaults < YAML file < environment.
package config

import (
	"errors"
	"time"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/events"
)

// Service is the inventory's name in logs, metrics, traces and file names.
const Service = "inventory"

// Default ports of the inventory service.
const (
	DefaultGRPCPort = 50053
	DefaultHTTPPort = 8083
)

// Defaults of the inventory's own keys.
const (
	DefaultNATSURL                  = "nats://127.0.0.1:4222"
	DefaultReservationTTL           = 15 * time.Minute
	DefaultReservationSweepInterval = 30 * time.Second
)

// Config is the inventory service's configuration.
type Config struct {
	platformconfig.Base `yaml:",inline"`

	// SeedCatalog adds the demo catalog's missing products at start. It
	// never changes a product that exists, so it is safe on every start;
	// a shop with its own catalog turns it off.
	SeedCatalog bool `yaml:"seed_catalog" env:"INVENTORY_SEED_CATALOG"`
	// NATSURL is the NATS JetStream server (comma separated for a cluster)
	// whose ORDERS stream the service consumes.
	NATSURL string `yaml:"nats_url" env:"NATS_URL" redact:"url"`
	// NATSUser and NATSPassword authenticate the service to NATS as its own
	// user, whose permissions allow only what the service needs (the
	// matrix is events.Accesses in api/events). Both empty connect without
	// credentials, to a broker that has no users.
	NATSUser     string `yaml:"nats_user" env:"NATS_USER"`
	NATSPassword string `yaml:"nats_password" env:"NATS_PASSWORD" secret:"true"`
	// InboxRetention is how long the consumer keeps the id of an event it
	// processed; older inbox rows are pruned. It must exceed the stream's
	// duplicate window (events.DuplicateWindow, 2m).
	InboxRetention time.Duration `yaml:"inbox_retention" env:"INBOX_RETENTION"`
	// EventsProducerKeys are the producers' Ed25519 public keys,
	// "order:<base64>[,order:<base64 of the previous key>]". When set, an
	// event without a valid signature of its subject's producer is rejected
	// and dead-lettered. Required when NATS_USER is set; empty (a plain
	// local broker only): signatures are not checked, with a warning at start.
	EventsProducerKeys string `yaml:"events_producer_keys" env:"EVENTS_PRODUCER_KEYS"`
	// ReservationTTL is how long a reservation holds its stock before the
	// sweeper releases it, unless the order's OrderPlaced commits it first.
	// Keep it well above how late an OrderPlaced may arrive (relay and
	// broker outages included): a later one finds its stock released.
	ReservationTTL time.Duration `yaml:"reservation_ttl" env:"RESERVATION_TTL"`
	// ReservationSweepInterval is how often each instance releases the
	// expired reservations.
	ReservationSweepInterval time.Duration `yaml:"reservation_sweep_interval" env:"RESERVATION_SWEEP_INTERVAL"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	c := &Config{
		SeedCatalog:              true,
		NATSURL:                  DefaultNATSURL,
		InboxRetention:           events.DefaultInboxRetention,
		ReservationTTL:           DefaultReservationTTL,
		ReservationSweepInterval: DefaultReservationSweepInterval,
	}
	c.SetDefaults(Service, DefaultGRPCPort, DefaultHTTPPort)
	return c
}

// Validate checks the Base keys and the service's own, reporting every
// problem at once.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate()}
	bad := func(key, value, reason string) {
		errs = append(errs, &platformconfig.Error{Key: key, Value: value, Reason: reason})
	}
	if reason := events.CheckURL(c.NATSURL); reason != "" {
		bad("NATS_URL", events.MaskURL(c.NATSURL), reason)
	}
	if key, reason := events.CheckCredentials(c.NATSUser, c.NATSPassword); reason != "" {
		value := c.NATSUser
		if key == "NATS_PASSWORD" {
			value = ""
		}
		bad(key, value, reason)
	}
	if reason := events.CheckInboxRetention(c.InboxRetention); reason != "" {
		bad("INBOX_RETENTION", c.InboxRetention.String(), reason)
	}
	if reason := events.CheckProducerKeys(c.EventsProducerKeys, "order"); reason != "" {
		bad("EVENTS_PRODUCER_KEYS", c.EventsProducerKeys, reason)
	} else if c.EventsProducerKeys == "" && c.NATSUser != "" {
		bad("EVENTS_PRODUCER_KEYS", "", "must be set when NATS_USER is: without order's public key (order:<base64>) anyone holding NATS credentials could forge events")
	}
	if c.ReservationTTL <= 0 {
		bad("RESERVATION_TTL", c.ReservationTTL.String(), "must be positive")
	}
	if c.ReservationSweepInterval <= 0 {
		bad("RESERVATION_SWEEP_INTERVAL", c.ReservationSweepInterval.String(), "must be positive")
	}
	return errors.Join(errs...)
}

// Load returns the configuration from its defaults, the YAML file at path
// ("" for none) and getenv, validated.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := Default()
	if err := platformconfig.Load(c, path, getenv); err != nil {
		return nil, err
	}
	return c, nil
}
