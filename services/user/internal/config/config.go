// Package config is the user service's configuration: the platform's Base
// keys plus the keys of token signing, the first admin and the service
// accounts.
package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

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
	// ServiceAccounts are the accounts other services log in with, as
	// "name:password,name:password" (e.g. "order:<secret>"). Each is ensured
	// at every start with email <name>@service.slipway.local and role
	// service; a changed password replaces the stored one.
	ServiceAccounts string `yaml:"service_accounts" env:"SERVICE_ACCOUNTS" secret:"true"`
	// UserCacheTTL is how long GetUser and GetMe serve an account from the
	// cache (in memory, or Redis with REDIS_URL) before reading it again; 0
	// turns the cache off. A change invalidates it at once, in Redis for
	// every instance, in memory only on the instance that made it.
	UserCacheTTL time.Duration `yaml:"user_cache_ttl" env:"USER_CACHE_TTL"`
}

// ServiceAccount is one configured service account. It prints and logs as
// its name only, so the password cannot leak through a log line.
type ServiceAccount struct {
	Name     string
	Password string
}

// String implements fmt.Stringer without the password.
func (a ServiceAccount) String() string { return a.Name }

// LogValue implements slog.LogValuer without the password.
func (a ServiceAccount) LogValue() slog.Value { return slog.StringValue(a.Name) }

// Limits of a service account, as the user domain enforces them; checked
// here too so a bad SERVICE_ACCOUNTS fails at load, naming the key.
const (
	maxServiceNameLen = 63
	minPasswordLen    = 8
	maxPasswordLen    = 128
)

// New returns the configuration with every default set.
func New() *Config {
	c := &Config{
		SigningKeyFile: ".slipway/keys/user-ed25519.pem",
		Issuer:         auth.DefaultIssuer,
		TokenTTL:       time.Hour,
		UserCacheTTL:   time.Minute,
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
	if c.UserCacheTTL < 0 || c.UserCacheTTL > time.Hour {
		bad("USER_CACHE_TTL", c.UserCacheTTL.String(), "want between 0 (no cache) and 1h")
	}
	if _, err := c.ServiceAccountList(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ServiceAccountList parses ServiceAccounts: comma-separated name:password
// entries, spaces around an entry ignored, empty entries skipped. A name is
// 1 to 63 lower-case letters, digits and dashes starting with a letter, and
// appears once; a password has 8 to 128 characters and may contain ':'. An
// error names SERVICE_ACCOUNTS and the entry's position, never a password
// (nor the text of an entry that may be one).
func (c *Config) ServiceAccountList() ([]ServiceAccount, error) {
	bad := func(reason string, args ...any) error {
		return &config.Error{Key: "SERVICE_ACCOUNTS", Value: secretShown, Reason: fmt.Sprintf(reason, args...)}
	}
	var accounts []ServiceAccount
	seen := make(map[string]bool)
	for i, entry := range strings.Split(c.ServiceAccounts, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		n := i + 1
		name, password, ok := strings.Cut(entry, ":")
		switch {
		case !ok:
			return nil, bad("entry %d: want name:password", n)
		case !validServiceName(name):
			return nil, bad("entry %d: want a name of 1 to %d lower-case letters, digits and dashes, starting with a letter, before the ':'",
				n, maxServiceNameLen)
		case seen[name]:
			return nil, bad("entry %d: service account %q appears twice", n, name)
		}
		if l := utf8.RuneCountInString(password); l < minPasswordLen || l > maxPasswordLen {
			return nil, bad("entry %d (%s): password must have %d to %d characters", n, name, minPasswordLen, maxPasswordLen)
		}
		seen[name] = true
		accounts = append(accounts, ServiceAccount{Name: name, Password: password})
	}
	return accounts, nil
}

// validServiceName reports whether name can name a service account (it
// becomes the local part of the account's email).
func validServiceName(name string) bool {
	if name == "" || len(name) > maxServiceNameLen || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
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
