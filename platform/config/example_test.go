package config_test

import (
	"fmt"
	"time"

	"github.com/slipway-dev/slipway/platform/config"
)

// shopConfig is a service's config: the platform's Base and a key of its
// own, with a default, a YAML name and an environment variable.
type shopConfig struct {
	config.Base `yaml:",inline"`
	ReserveTTL  time.Duration `yaml:"reserve_ttl" env:"RESERVE_TTL"`
}

// Load fills a config from its defaults, then a YAML file (none here), then
// the environment, and validates it.
func ExampleLoad() {
	cfg := &shopConfig{ReserveTTL: 15 * time.Minute}
	cfg.SetDefaults("inventory", 50053, 8083)
	env := map[string]string{"RESERVE_TTL": "30s", "LOG_LEVEL": "debug"}
	if err := config.Load(cfg, "", func(k string) string { return env[k] }); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Service, cfg.GRPCAddr, cfg.LogLevel, cfg.ReserveTTL)
	// Output: inventory :50053 debug 30s
}

// A value that does not parse is refused with the key, the value and why,
// and the service does not start.
func ExampleLoad_invalid() {
	cfg := &shopConfig{}
	cfg.SetDefaults("inventory", 50053, 8083)
	env := map[string]string{"RESERVE_TTL": "soon"}
	err := config.Load(cfg, "", func(k string) string { return env[k] })
	fmt.Println(err)
	// Output: config: RESERVE_TTL="soon": not a duration
}
