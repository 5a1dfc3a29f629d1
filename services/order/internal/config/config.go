// Package config is the order service's configuration: the platform's common
// keys plus its own (the event broker, its peers and the service account it
// calls them with), with defaults < YAML file < environment.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/events"
)

// Service is the order service's name in logs, metrics, traces and file names.
const Service = "order"

// Default ports of the order service.
const (
	DefaultGRPCPort = 50052
	DefaultHTTPPort = 8082
)

// ServiceAccountDomain is the email domain of service accounts: a service
// logs in as <name>@ServiceAccountDomain.
const ServiceAccountDomain = "service.slipway.local"

// minPasswordLen is the shortest password the user service accepts for a
// service account.
const minPasswordLen = 8

// secretShown stands in for a secret value in error messages.
const secretShown = "<secret>"

// Config is the order service's configuration.
type Config struct {
	config.Base `yaml:",inline"`

	// ProducerSettings are the NATS connection (NATS_URL, NATS_USER,
	// NATS_PASSWORD) the outbox relay publishes through and the
	// EVENTS_SIGNING_KEY it signs every event with.
	events.ProducerSettings `yaml:",inline"`
	// InventoryAddr and UserAddr are the peers' gRPC addresses when
	// DISCOVERY is static; with etcd the peers are found by service name.
	InventoryAddr string `yaml:"inventory_addr" env:"INVENTORY_ADDR" help:"inventory's gRPC host:port when DISCOVERY is static"`
	UserAddr      string `yaml:"user_addr" env:"USER_ADDR" help:"user service's gRPC host:port when DISCOVERY is static"`
	// PeerTimeout is the deadline of each call to a peer that has none
	// shorter already.
	PeerTimeout time.Duration `yaml:"peer_timeout" env:"PEER_TIMEOUT" help:"deadline of each call to a peer that has none shorter"`
	// ServiceAccountName and ServiceAccountPassword are the account the
	// order service logs in with (as <name>@service.slipway.local) to call
	// inventory in plaintext development; the user service creates it from
	// its SERVICE_ACCOUNTS. Under TLS the order service proves itself with
	// its certificate instead, and the password is not needed.
	ServiceAccountName     string `yaml:"service_account_name" env:"SERVICE_ACCOUNT_NAME" help:"account the service logs in with, as <name>@service.slipway.local"`
	ServiceAccountPassword string `yaml:"service_account_password" env:"SERVICE_ACCOUNT_PASSWORD" secret:"true" help:"password of SERVICE_ACCOUNT_NAME, for plaintext development (not needed under TLS)"`
	// OrderRateLimit is how many new orders per second each user may place,
	// sustained; 0 turns the limit off. The state is in memory, or in Redis
	// (shared by every instance) when REDIS_URL is set.
	OrderRateLimit float64 `yaml:"order_rate_limit" env:"ORDER_RATE_LIMIT" help:"new orders per second per user, sustained; 0 turns the limit off"`
	// OrderRateBurst is how many new orders a user may place at once.
	OrderRateBurst int `yaml:"order_rate_burst" env:"ORDER_RATE_BURST" help:"new orders a user may place at once"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	c := &Config{
		ProducerSettings:   events.DefaultProducerSettings(),
		InventoryAddr:      "127.0.0.1:50053",
		UserAddr:           "127.0.0.1:50051",
		PeerTimeout:        3 * time.Second,
		ServiceAccountName: Service,
		// Far above a person ordering, and above what `slipway load` sends
		// (about 50 orders a second over 20 users).
		OrderRateLimit: 10,
		OrderRateBurst: 20,
	}
	c.SetDefaults(Service, DefaultGRPCPort, DefaultHTTPPort)
	return c
}

// Validate checks the Base keys and the service's own, reporting every
// problem at once.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate(), c.ProducerSettings.Validate()}
	bad := func(key, value, reason string) {
		errs = append(errs, &config.Error{Key: key, Value: value, Reason: reason})
	}
	for _, a := range []struct{ key, value string }{
		{"INVENTORY_ADDR", c.InventoryAddr},
		{"USER_ADDR", c.UserAddr},
	} {
		if !isTarget(a.value) {
			bad(a.key, a.value, "want host:port or a gRPC target such as dns:///host:port")
		}
	}
	if c.PeerTimeout <= 0 || c.PeerTimeout > time.Minute {
		bad("PEER_TIMEOUT", c.PeerTimeout.String(), "want more than 0 and at most 1m")
	}
	if c.ServiceAccountName == "" || strings.ContainsAny(c.ServiceAccountName, "@ \t\n") {
		bad("SERVICE_ACCOUNT_NAME", c.ServiceAccountName, "want a name without '@' or spaces")
	}
	if c.ServiceAccountPassword == "" && !c.TLS.Enabled() {
		bad("SERVICE_ACCOUNT_PASSWORD", "", "must be set when TLS is off (TLS_CERT_FILE empty): the order service then calls inventory with its service account")
	} else if c.ServiceAccountPassword != "" && len([]rune(c.ServiceAccountPassword)) < minPasswordLen {
		bad("SERVICE_ACCOUNT_PASSWORD", secretShown, fmt.Sprintf("must have at least %d characters", minPasswordLen))
	}
	if c.OrderRateLimit < 0 || c.OrderRateLimit > maxOrderRate || math.IsNaN(c.OrderRateLimit) {
		bad("ORDER_RATE_LIMIT", strconv.FormatFloat(c.OrderRateLimit, 'g', -1, 64), "want orders per second from 0 (no limit) to 1e6")
	}
	if c.OrderRateLimit > 0 && c.OrderRateBurst < 1 {
		bad("ORDER_RATE_BURST", strconv.Itoa(c.OrderRateBurst), "want at least 1 when ORDER_RATE_LIMIT is set")
	}
	return errors.Join(errs...)
}

// maxOrderRate is the highest rate the limiter can enforce: one order a
// microsecond.
const maxOrderRate = 1e6

// ServiceAccountEmail is the email the order service logs in with.
func (c *Config) ServiceAccountEmail() string {
	return c.ServiceAccountName + "@" + ServiceAccountDomain
}

// Load returns the configuration from its defaults, the YAML file at path
// ("" for none) and getenv, validated.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := Default()
	if err := config.Load(c, path, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// isTarget accepts host:port or a URI-style gRPC target (scheme:///...).
func isTarget(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return false
	}
	if strings.Contains(s, ":///") {
		return true
	}
	host, port, err := net.SplitHostPort(s)
	return err == nil && host != "" && port != ""
}
