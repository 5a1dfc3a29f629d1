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

	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
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
	// InventoryAddr, PaymentAddr and UserAddr are the peers' gRPC addresses
	// when DISCOVERY is static; with etcd the peers are found by service name.
	InventoryAddr string `yaml:"inventory_addr" env:"INVENTORY_ADDR" help:"inventory's gRPC host:port (or host:port,host:port for several instances) when DISCOVERY is static"`
	PaymentAddr   string `yaml:"payment_addr" env:"PAYMENT_ADDR" help:"payment service's gRPC host:port when DISCOVERY is static"`
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

	// PaymentDeadline is how long an order may stay PENDING: past it, the
	// saga voids whatever may have been authorized and fails the order.
	PaymentDeadline time.Duration `yaml:"payment_deadline" env:"PAYMENT_DEADLINE" help:"how long an order may wait for its stock and payment before it fails"`
	// PaymentSyncBudget is how long CreateOrder and CancelOrder drive the
	// saga before answering with the order as it stands (PENDING, or a
	// cancel begun); the recovery worker finishes it.
	PaymentSyncBudget time.Duration `yaml:"payment_sync_budget" env:"PAYMENT_SYNC_BUDGET" help:"how long CreateOrder and CancelOrder wait on the payment before answering"`
	// PaymentRetryInitial is the wait after a call's first transient
	// failure; each next wait doubles, up to PaymentRetryMax.
	PaymentRetryInitial time.Duration `yaml:"payment_retry_initial" env:"PAYMENT_RETRY_INITIAL" help:"wait after the first transient failure of a payment or stock call"`
	// PaymentRetryMax is the longest wait between two attempts of a call.
	PaymentRetryMax time.Duration `yaml:"payment_retry_max" env:"PAYMENT_RETRY_MAX" help:"longest wait between two attempts of a payment or stock call"`
	// SagaRecoveryInterval is how often each instance looks for orders
	// whose saga stopped half way (a crash, a payment still in flight).
	SagaRecoveryInterval time.Duration `yaml:"saga_recovery_interval" env:"SAGA_RECOVERY_INTERVAL" help:"how often each instance resumes the orders whose saga stopped half way"`
	// SagaRecoveryGrace is how long an order must have rested before the
	// worker resumes it; longer than PaymentSyncBudget, so it does not race
	// the request still driving it.
	SagaRecoveryGrace time.Duration `yaml:"saga_recovery_grace" env:"SAGA_RECOVERY_GRACE" help:"how long an unfinished order rests before the recovery worker resumes it"`
	// SagaRecoveryLease is how long one instance holds an order it resumes.
	SagaRecoveryLease time.Duration `yaml:"saga_recovery_lease" env:"SAGA_RECOVERY_LEASE" help:"how long one instance holds an order it resumes before another may"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	saga := domain.DefaultSagaConfig()
	c := &Config{
		ProducerSettings:   events.DefaultProducerSettings(),
		InventoryAddr:      "127.0.0.1:50053",
		PaymentAddr:        "127.0.0.1:50055",
		UserAddr:           "127.0.0.1:50051",
		PeerTimeout:        3 * time.Second,
		ServiceAccountName: Service,
		// Far above a person ordering, and above what `slipway load` sends
		// (about 50 orders a second over 20 users).
		OrderRateLimit: 10,
		OrderRateBurst: 20,

		PaymentDeadline:      saga.Deadline,
		PaymentSyncBudget:    saga.SyncBudget,
		PaymentRetryInitial:  saga.RetryInitial,
		PaymentRetryMax:      saga.RetryMax,
		SagaRecoveryInterval: 5 * time.Second,
		SagaRecoveryGrace:    saga.Grace,
		SagaRecoveryLease:    saga.Lease,
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
		{"PAYMENT_ADDR", c.PaymentAddr},
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
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"PAYMENT_DEADLINE", c.PaymentDeadline}, {"PAYMENT_SYNC_BUDGET", c.PaymentSyncBudget},
		{"PAYMENT_RETRY_INITIAL", c.PaymentRetryInitial}, {"PAYMENT_RETRY_MAX", c.PaymentRetryMax},
		{"SAGA_RECOVERY_INTERVAL", c.SagaRecoveryInterval}, {"SAGA_RECOVERY_LEASE", c.SagaRecoveryLease},
	} {
		if d.v <= 0 || d.v > time.Hour {
			bad(d.key, d.v.String(), "want more than 0 and at most 1h")
		}
	}
	if c.PaymentRetryMax < c.PaymentRetryInitial {
		bad("PAYMENT_RETRY_MAX", c.PaymentRetryMax.String(), "want at least PAYMENT_RETRY_INITIAL")
	}
	if c.PaymentSyncBudget > c.PaymentDeadline {
		bad("PAYMENT_SYNC_BUDGET", c.PaymentSyncBudget.String(), "want at most PAYMENT_DEADLINE")
	}
	if c.SagaRecoveryGrace < c.PaymentSyncBudget {
		bad("SAGA_RECOVERY_GRACE", c.SagaRecoveryGrace.String(),
			"want at least PAYMENT_SYNC_BUDGET, so the worker does not resume an order its request still drives")
	}
	if c.SagaRecoveryLease < c.PaymentDeadline {
		bad("SAGA_RECOVERY_LEASE", c.SagaRecoveryLease.String(), "want at least PAYMENT_DEADLINE, which one resume may take")
	}
	return errors.Join(errs...)
}

// Saga is the domain's saga configuration from these keys.
func (c *Config) Saga() domain.SagaConfig {
	saga := domain.DefaultSagaConfig()
	saga.Deadline, saga.SyncBudget = c.PaymentDeadline, c.PaymentSyncBudget
	saga.RetryInitial, saga.RetryMax = c.PaymentRetryInitial, c.PaymentRetryMax
	saga.Grace, saga.Lease = c.SagaRecoveryGrace, c.SagaRecoveryLease
	return saga
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

// isTarget accepts host:port, a comma-separated list of host:port (every
// instance of the peer, balanced by client.Dial), or a URI-style gRPC
// target (scheme:///...).
func isTarget(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return false
	}
	if client.IsAddressList(s) {
		_, err := client.ParseAddressList(s)
		return err == nil
	}
	if strings.Contains(s, ":///") {
		return true
	}
	host, port, err := net.SplitHostPort(s)
	return err == nil && host != "" && port != ""
}
