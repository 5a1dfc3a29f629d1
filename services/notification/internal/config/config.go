// Package config is the notification service's configuration: the
// platform's common keys plus its own (the NATS server it consumes from and
// the webhook it sends through), with defaults < YAML file < environment.
package config

import (
	"errors"
	"net/url"
	"strconv"
	"time"

	apievents "github.com/slipway-dev/slipway/api/events"
	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/events"
)

// Service is the notification service's name in logs, metrics, traces and
// file names.
const Service = "notification"

// Default ports of the notification service.
const (
	DefaultGRPCPort = 50054
	DefaultHTTPPort = 8084
)

// Defaults of the service's own keys.
const (
	DefaultWebhookTimeout     = 5 * time.Second
	DefaultWebhookMaxAttempts = 10
	// With these a delivery that keeps failing is retried for about 9 to
	// 17 minutes (2 s doubling, capped at 10 min, equal jitter) before it
	// fails for good.
	DefaultWebhookBackoff    = 2 * time.Second
	DefaultWebhookMaxBackoff = 10 * time.Minute
)

// Bounds of the webhook keys. Deliveries run from their own queue, outside
// the event consumer, so they are not bound by its ack wait.
const (
	minWebhookTimeout     = 100 * time.Millisecond
	maxWebhookTimeout     = 30 * time.Second
	maxWebhookMaxAttempts = 100
	minWebhookBackoff     = 10 * time.Millisecond
	maxWebhookBackoff     = 24 * time.Hour
)

// Config is the notification service's configuration.
type Config struct {
	platformconfig.Base `yaml:",inline"`

	// ConsumerSettings are the NATS connection (NATS_URL, NATS_USER,
	// NATS_PASSWORD) the service consumes the ORDERS stream through, its
	// INBOX_RETENTION and the EVENTS_PRODUCER_KEYS it checks order's
	// signatures with.
	events.ConsumerSettings `yaml:",inline"`
	// WebhookURL, when set, is where every notification is POSTed as JSON,
	// from the delivery queue; when empty, notifications are in-app only
	// (delivery state NONE). It is a secret: webhook URLs usually carry
	// their credential in the user info, path or query, and every error
	// that quotes it is redacted before it is logged, traced or stored.
	WebhookURL string `yaml:"webhook_url" env:"NOTIFY_WEBHOOK_URL" secret:"true" help:"URL every notification is also POSTed to as JSON; empty: in-app only"`
	// WebhookTimeout bounds one webhook attempt.
	WebhookTimeout time.Duration `yaml:"webhook_timeout" env:"NOTIFY_WEBHOOK_TIMEOUT" help:"bound on one webhook attempt"`
	// WebhookMaxAttempts is how many attempts a delivery gets before it
	// fails for good (a dead letter, kept with its redacted reason).
	WebhookMaxAttempts int `yaml:"webhook_max_attempts" env:"NOTIFY_WEBHOOK_MAX_ATTEMPTS" help:"attempts a delivery gets before it fails for good (a dead letter)"`
	// WebhookBackoff is the wait before a delivery's second attempt,
	// doubled for each further one (with jitter) up to WebhookMaxBackoff.
	// A Retry-After the webhook answers with waits longer, never shorter.
	WebhookBackoff    time.Duration `yaml:"webhook_backoff" env:"NOTIFY_WEBHOOK_BACKOFF" help:"wait before a delivery's second attempt, doubled for each further one"`
	WebhookMaxBackoff time.Duration `yaml:"webhook_max_backoff" env:"NOTIFY_WEBHOOK_MAX_BACKOFF" help:"cap on the wait between delivery attempts"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	c := &Config{
		ConsumerSettings:   events.DefaultConsumerSettings(),
		WebhookTimeout:     DefaultWebhookTimeout,
		WebhookMaxAttempts: DefaultWebhookMaxAttempts,
		WebhookBackoff:     DefaultWebhookBackoff,
		WebhookMaxBackoff:  DefaultWebhookMaxBackoff,
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
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("NOTIFY_WEBHOOK_URL", "<secret>", "want an absolute http(s) URL")
		}
	}
	if c.WebhookTimeout < minWebhookTimeout || c.WebhookTimeout > maxWebhookTimeout {
		bad("NOTIFY_WEBHOOK_TIMEOUT", c.WebhookTimeout.String(), "want between "+minWebhookTimeout.String()+" and "+maxWebhookTimeout.String())
	}
	if c.WebhookMaxAttempts < 1 || c.WebhookMaxAttempts > maxWebhookMaxAttempts {
		bad("NOTIFY_WEBHOOK_MAX_ATTEMPTS", strconv.Itoa(c.WebhookMaxAttempts), "want 1 to "+strconv.Itoa(maxWebhookMaxAttempts))
	}
	if c.WebhookBackoff < minWebhookBackoff || c.WebhookBackoff > maxWebhookBackoff {
		bad("NOTIFY_WEBHOOK_BACKOFF", c.WebhookBackoff.String(), "want between "+minWebhookBackoff.String()+" and "+maxWebhookBackoff.String())
	} else if c.WebhookMaxBackoff < c.WebhookBackoff || c.WebhookMaxBackoff > maxWebhookBackoff {
		bad("NOTIFY_WEBHOOK_MAX_BACKOFF", c.WebhookMaxBackoff.String(), "want between NOTIFY_WEBHOOK_BACKOFF ("+c.WebhookBackoff.String()+") and "+maxWebhookBackoff.String())
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
