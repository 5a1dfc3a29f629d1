// Package config is the payment service's configuration: the platform's
// common keys and the payment provider's, with defaults < YAML file <
// environment.
package config

import (
	"errors"
	"net/url"
	"strconv"
	"time"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
)

// Service is the payment service's name in logs, metrics, traces and file names.
const Service = "payment"

// Default ports of the payment service.
const (
	DefaultGRPCPort = 50055
	DefaultHTTPPort = 8085
)

// The payment service providers PAYMENT_PROVIDER names.
const (
	ProviderSandbox = "sandbox"
	ProviderStripe  = "stripe"
)

// Defaults of the service's own keys. The sandbox's latency is a nearby
// PSP's (sandbox.DefaultLatency).
const (
	DefaultStripeAPIURL         = "https://api.stripe.com"
	DefaultSandboxLatencyMedian = 40 * time.Millisecond
	DefaultSandboxLatencyP99    = 80 * time.Millisecond
)

// maxSandboxLatency bounds the sandbox's latency keys: a minute is already
// far past any RPC deadline the order service sets.
const maxSandboxLatency = time.Minute

// Config is the payment service's configuration.
type Config struct {
	platformconfig.Base `yaml:",inline"`

	// Provider is the payment service provider: the built-in sandbox, or
	// Stripe.
	Provider string `yaml:"payment_provider" env:"PAYMENT_PROVIDER" help:"payment service provider: sandbox (built in, test cards) or stripe"`

	// StripeAPIKey is the Stripe secret key (sk_test_..., sk_live_...),
	// required when Provider is stripe.
	StripeAPIKey string `yaml:"stripe_api_key" env:"STRIPE_API_KEY" secret:"true" help:"Stripe secret API key; required when PAYMENT_PROVIDER is stripe"`
	// StripeAPIURL is where Stripe's API is: Stripe's own, or a stripe-mock
	// in tests.
	StripeAPIURL string `yaml:"stripe_api_url" env:"STRIPE_API_URL" help:"base URL of Stripe's API; a stripe-mock's in tests"`
	// StripeWebhookSecret is the signing secret (whsec_...) of the webhook
	// endpoint; when set with Provider stripe, POST /webhooks/stripe
	// receives Stripe's events.
	StripeWebhookSecret string `yaml:"stripe_webhook_secret" env:"STRIPE_WEBHOOK_SECRET" secret:"true" help:"signing secret of Stripe's webhook; when set, POST /webhooks/stripe takes Stripe's events"`

	// SandboxLatencyMedian and SandboxLatencyP99 shape the sandbox's
	// log-normal latency; both 0 answer at once.
	SandboxLatencyMedian time.Duration `yaml:"sandbox_latency_median" env:"SANDBOX_LATENCY_MEDIAN" help:"median latency of the sandbox provider"`
	SandboxLatencyP99    time.Duration `yaml:"sandbox_latency_p99" env:"SANDBOX_LATENCY_P99" help:"99th percentile latency of the sandbox provider, at least the median"`
	// SandboxTransientRate is the share of the sandbox's calls that fail
	// transiently before taking effect, for chaos experiments.
	SandboxTransientRate float64 `yaml:"sandbox_transient_rate" env:"SANDBOX_TRANSIENT_RATE" help:"share (0 to 1) of sandbox calls that fail transiently, for chaos experiments"`
}

// Default returns the configuration with every default set.
func Default() *Config {
	c := &Config{
		Provider:             ProviderSandbox,
		StripeAPIURL:         DefaultStripeAPIURL,
		SandboxLatencyMedian: DefaultSandboxLatencyMedian,
		SandboxLatencyP99:    DefaultSandboxLatencyP99,
	}
	c.SetDefaults(Service, DefaultGRPCPort, DefaultHTTPPort)
	return c
}

// Validate checks the Base keys and the service's own, reporting every
// problem at once; platformconfig.Load calls it after reading the file and
// the environment.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate()}
	bad := func(key, value, reason string) {
		errs = append(errs, &platformconfig.Error{Key: key, Value: value, Reason: reason})
	}
	switch c.Provider {
	case ProviderSandbox:
	case ProviderStripe:
		if c.StripeAPIKey == "" {
			bad("STRIPE_API_KEY", "", "required when PAYMENT_PROVIDER is stripe")
		}
	default:
		bad("PAYMENT_PROVIDER", c.Provider, "want sandbox or stripe")
	}
	if u, err := url.Parse(c.StripeAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("STRIPE_API_URL", c.StripeAPIURL, "want an absolute http(s) URL")
	}
	if c.SandboxLatencyMedian < 0 || c.SandboxLatencyMedian > maxSandboxLatency {
		bad("SANDBOX_LATENCY_MEDIAN", c.SandboxLatencyMedian.String(), "want between 0s and "+maxSandboxLatency.String())
	} else if c.SandboxLatencyP99 < c.SandboxLatencyMedian || c.SandboxLatencyP99 > maxSandboxLatency {
		bad("SANDBOX_LATENCY_P99", c.SandboxLatencyP99.String(),
			"want between SANDBOX_LATENCY_MEDIAN ("+c.SandboxLatencyMedian.String()+") and "+maxSandboxLatency.String())
	}
	if !(c.SandboxTransientRate >= 0 && c.SandboxTransientRate <= 1) { // also refuses NaN
		bad("SANDBOX_TRANSIENT_RATE", strconv.FormatFloat(c.SandboxTransientRate, 'g', -1, 64), "want between 0 and 1")
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
