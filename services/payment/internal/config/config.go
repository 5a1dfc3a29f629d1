// Package config is the payment service's configuration: the platform's
// common keys, with defaults < YAML file < environment.
package config

import (
	platformconfig "github.com/slipway-dev/slipway/platform/config"
)

// Service is the payment service's name in logs, metrics, traces and file names.
const Service = "payment"

// Default ports of the payment service.
const (
	DefaultGRPCPort = 50055
	DefaultHTTPPort = 8085
)

// Config is the payment service's configuration. Its own keys go beside
// Base, each with yaml, env and help tags, and their checks in Validate.
type Config struct {
	platformconfig.Base `yaml:",inline"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	c := &Config{}
	c.SetDefaults(Service, DefaultGRPCPort, DefaultHTTPPort)
	return c
}

// Validate checks the configuration, reporting every problem at once;
// platformconfig.Load calls it after reading the file and the environment.
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
