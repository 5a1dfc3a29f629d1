// Package config is the inventory service's configuration: the platform's
// common keys plus its own, with defaults < YAML file < environment.
package config

import (
	platformconfig "github.com/slipway-dev/slipway/platform/config"
)

// Service is the inventory's name in logs, metrics, traces and file names.
const Service = "inventory"

// Default ports of the inventory service.
const (
	DefaultGRPCPort = 50053
	DefaultHTTPPort = 8083
)

// Config is the inventory service's configuration.
type Config struct {
	platformconfig.Base `yaml:",inline"`

	// SeedCatalog adds the demo catalog's missing products at start. It
	// never changes a product that exists, so it is safe on every start;
	// a shop with its own catalog turns it off.
	SeedCatalog bool `yaml:"seed_catalog" env:"INVENTORY_SEED_CATALOG"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	c := &Config{SeedCatalog: true}
	c.SetDefaults(Service, DefaultGRPCPort, DefaultHTTPPort)
	return c
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	return c.Base.Validate()
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
