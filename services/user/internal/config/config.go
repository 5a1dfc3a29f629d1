// Package config is the user service's configuration: the platform's Base
// keys plus the keys of token signing and the first admin.
package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/config"
)

// Service is the name the user service runs under.
const Service = "user"

// Default ports of the user service.
const (
	DefaultGRPCPort = 50051
	DefaultHTTPPort = 8081
)

// secretShown stands in for a secret value in error messages.
const secretShown = "<secret>"

// Config is the user service's configuration.
type Config struct {
	config.Base `yaml:",inline"`

	// SigningKeyFile is the PKCS#8 PEM Ed25519 key tokens are signed with;
	// it is created on first start when missing.
	SigningKeyFile string `yaml:"signing_key_file" env:"AUTH_SIGNING_KEY_FILE"`
	// SigningKey is the base64 32-byte Ed25519 seed; when set it wins over
	// SigningKeyFile (for platforms that inject secrets as variables).
	SigningKey string `yaml:"signing_key" env:"AUTH_SIGNING_KEY" secret:"true"`
	// Issuer is the "iss" claim of the tokens.
	Issuer string `yaml:"issuer" env:"AUTH_ISSUER"`
	// TokenTTL is how long an access token is accepted.
	TokenTTL time.Duration `yaml:"token_ttl" env:"AUTH_TOKEN_TTL"`
	// AdminEmail and AdminPassword, when set, are the admin account ensured
	// at every start: created, or promoted and given this password.
	AdminEmail    string `yaml:"admin_email" env:"ADMIN_EMAIL"`
	AdminPassword string `yaml:"admin_password" env:"ADMIN_PASSWORD" secret:"true"`
}

// New returns the configuration with every default set.
func New() *Config {
	c := &Config{
		SigningKeyFile: ".slipway/keys/user-ed25519.pem",
		Issuer:         auth.DefaultIssuer,
		TokenTTL:       time.Hour,
	}
	c.SetDefaults(Service, DefaultGRPCPort, DefaultHTTPPort)
	return c
}

// Validate checks the Base keys and the service's own, reporting every
// problem at once.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate()}
	bad := func(key, value, reason string) {
		errs = append(errs, &config.Error{Key: key, Value: value, Reason: reason})
	}
	if c.SigningKey != "" {
		if _, err := parseSeed(c.SigningKey); err != nil {
			bad("AUTH_SIGNING_KEY", secretShown, err.Error())
		}
	} else if strings.TrimSpace(c.SigningKeyFile) == "" {
		bad("AUTH_SIGNING_KEY_FILE", c.SigningKeyFile, "want a path when AUTH_SIGNING_KEY is not set")
	}
	if strings.TrimSpace(c.Issuer) == "" {
		bad("AUTH_ISSUER", c.Issuer, "must not be empty")
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		bad("AUTH_TOKEN_TTL", c.TokenTTL.String(), "want between 1m and 24h")
	}
	switch {
	case c.AdminEmail == "" && c.AdminPassword != "":
		bad("ADMIN_EMAIL", c.AdminEmail, "must be set when ADMIN_PASSWORD is")
	case c.AdminEmail != "" && c.AdminPassword == "":
		bad("ADMIN_PASSWORD", "", "must be set when ADMIN_EMAIL is")
	case c.AdminEmail != "" && !strings.Contains(c.AdminEmail, "@"):
		bad("ADMIN_EMAIL", c.AdminEmail, "want an email address")
	case c.AdminPassword != "" && len([]rune(c.AdminPassword)) < 8:
		bad("ADMIN_PASSWORD", secretShown, "must have at least 8 characters")
	}
	return errors.Join(errs...)
}

// SigningPrivateKey returns the key tokens are signed with: SigningKey when
// set, else the key in SigningKeyFile, created there when missing.
func (c *Config) SigningPrivateKey() (ed25519.PrivateKey, error) {
	if c.SigningKey != "" {
		key, err := parseSeed(c.SigningKey)
		if err != nil {
			return nil, fmt.Errorf("AUTH_SIGNING_KEY: %w", err)
		}
		return key, nil
	}
	return auth.LoadOrCreateKey(c.SigningKeyFile)
}

// parseSeed decodes a base64 (standard or URL alphabet, padded or not)
// Ed25519 seed.
func parseSeed(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	seed, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		seed, err = base64.RawURLEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("want a %d-byte Ed25519 seed, got %d bytes", ed25519.SeedSize, len(seed))
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
