// Package config is the inventory service's configuration: the platform's
// common keys plus its own, with defaults < YAML file < environment.
package config

import (
	"errors"
	"time"

	apievents "github.com/slipway-dev/slipway/api/events"
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
	DefaultReservationTTL           = 15 * time.Minute
	DefaultReservationSweepInterval = 30 * time.Second
	DefaultProductCacheTTL          = time.Second
)

// Config is the inventory service's configuration.
type Config struct {
	platformconfig.Base `yaml:",inline"`

	// SeedCatalog adds the demo catalog's missing products at start. It
	// never changes a product that exists, so it is safe on every start;
	// a shop with its own catalog turns it off.
	SeedCatalog bool `yaml:"seed_catalog" env:"INVENTORY_SEED_CATALOG" help:"add the demo catalog's missing products at start; never changes existing ones"`
	// ConsumerSettings are the NATS connection (NATS_URL, NATS_USER,
	// NATS_PASSWORD) the service consumes the ORDERS stream through, its
	// INBOX_RETENTION and the EVENTS_PRODUCER_KEYS it checks order's
	// signatures with.
	events.ConsumerSettings `yaml:",inline"`
	// ReservationTTL is how long a reservation holds its stock before the
	// sweeper releases it, unless the order's OrderPlaced commits it first.
	// Keep it well above how late an OrderPlaced may arrive (relay and
	// broker outages included): a later one finds its stock released.
	ReservationTTL time.Duration `yaml:"reservation_ttl" env:"RESERVATION_TTL" help:"how long a reservation holds its stock before the sweeper releases it"`
	// ReservationSweepInterval is how often each instance releases the
	// expired reservations.
	ReservationSweepInterval time.Duration `yaml:"reservation_sweep_interval" env:"RESERVATION_SWEEP_INTERVAL" help:"how often each instance releases the expired reservations"`
	// ProductCacheTTL is how long GetProduct may answer from this
	// instance's cache: the most a product read can lag a stock change made
	// by another instance (or by an order event). A change made through
	// this instance is seen at once. Reserve never reads the cache. 0
	// turns the cache off.
	ProductCacheTTL time.Duration `yaml:"product_cache_ttl" env:"PRODUCT_CACHE_TTL" help:"how long GetProduct may answer from this instance's cache; 0 turns the cache off"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	c := &Config{
		SeedCatalog:              true,
		ConsumerSettings:         events.DefaultConsumerSettings(),
		ReservationTTL:           DefaultReservationTTL,
		ReservationSweepInterval: DefaultReservationSweepInterval,
		ProductCacheTTL:          DefaultProductCacheTTL,
	}
	c.SetDefaults(Service, DefaultGRPCPort, DefaultHTTPPort)
	return c
}

// Validate checks the Base keys and the service's own, reporting every
// problem at once.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate(), c.ConsumerSettings.Validate(apievents.ServiceOrder)}
	bad := func(key, value, reason string) {
		errs = append(errs, &platformconfig.Error{Key: key, Value: value, Reason: reason})
	}
	if c.ReservationTTL <= 0 {
		bad("RESERVATION_TTL", c.ReservationTTL.String(), "must be positive")
	}
	if c.ReservationSweepInterval <= 0 {
		bad("RESERVATION_SWEEP_INTERVAL", c.ReservationSweepInterval.String(), "must be positive")
	}
	if c.ProductCacheTTL < 0 {
		bad("PRODUCT_CACHE_TTL", c.ProductCacheTTL.String(), "must not be negative (0 turns the cache off)")
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
