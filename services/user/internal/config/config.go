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
	"math"
	"net/netip"
	"strconv"
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
	SigningKeyFile string `yaml:"signing_key_file" env:"AUTH_SIGNING_KEY_FILE" help:"PKCS#8 PEM Ed25519 key tokens are signed with; created on first start if missing"`
	// SigningKey is the base64 32-byte Ed25519 seed; when set it wins over
	// SigningKeyFile (for platforms that inject secrets as variables).
	SigningKey string `yaml:"signing_key" env:"AUTH_SIGNING_KEY" secret:"true" help:"base64 32-byte Ed25519 seed tokens are signed with; wins over AUTH_SIGNING_KEY_FILE"`
	// Issuer is the "iss" claim of the tokens.
	Issuer string `yaml:"issuer" env:"AUTH_ISSUER" help:"iss claim of the tokens"`
	// TokenTTL is how long an access token is accepted.
	TokenTTL time.Duration `yaml:"token_ttl" env:"AUTH_TOKEN_TTL" help:"how long an access token is accepted, from 1m to 24h"`
	// AdminEmail and AdminPassword, when set, are the admin account ensured
	// at every start: created, or promoted and given this password.
	AdminEmail    string `yaml:"admin_email" env:"ADMIN_EMAIL" help:"email of the admin account ensured at every start; needs ADMIN_PASSWORD"`
	AdminPassword string `yaml:"admin_password" env:"ADMIN_PASSWORD" secret:"true" help:"password of the ADMIN_EMAIL account, set at every start"`
	// ServiceAccounts are the accounts other services log in with, as
	// "name:password,name:password" (e.g. "order:<secret>"). Each is ensured
	// at every start with email <name>@service.slipway.local and role
	// service; a changed password replaces the stored one.
	ServiceAccounts string `yaml:"service_accounts" env:"SERVICE_ACCOUNTS" secret:"true" help:"accounts other services log in with, ensured at start: name:password[,name:password]"`
	// UserCacheTTL is how long GetUser and GetMe serve an account from the
	// cache (in memory, or Redis with REDIS_URL) before reading it again; 0
	// turns the cache off. A change invalidates it at once, in Redis for
	// every instance, in memory only on the instance that made it.
	UserCacheTTL time.Duration `yaml:"user_cache_ttl" env:"USER_CACHE_TTL" help:"how long GetUser and GetMe serve an account from the cache; 0 turns the cache off"`

	// AuthAddrRateLimit is how many logins and registrations per second
	// each client address may make, sustained, counting failed logins and
	// every registration (a login with the right password is given back);
	// 0 turns the limit off. An IPv6 client is keyed by its /64. The state
	// is in memory, or in Redis (shared by every instance) with REDIS_URL.
	AuthAddrRateLimit float64 `yaml:"auth_addr_rate_limit" env:"AUTH_ADDR_RATE_LIMIT" help:"failed logins and registrations per second per client address; 0 turns it off"`
	// AuthAddrRateBurst is how many such attempts an address may make at once.
	AuthAddrRateBurst int `yaml:"auth_addr_rate_burst" env:"AUTH_ADDR_RATE_BURST" help:"burst of failed logins and registrations per client address"`
	// AuthAccountRateLimit is the same per account and client address
	// (the normalised email, whether it exists or not, with the address or
	// IPv6 /64): what one client may try against one account. It never
	// refuses the account's owner at another address. 0 turns it off.
	AuthAccountRateLimit float64 `yaml:"auth_account_rate_limit" env:"AUTH_ACCOUNT_RATE_LIMIT" help:"failed logins per second per account and client address; 0 turns it off"`
	// AuthAccountRateBurst is how many such attempts one client may make at
	// one account at once.
	AuthAccountRateBurst int `yaml:"auth_account_rate_burst" env:"AUTH_ACCOUNT_RATE_BURST" help:"burst of failed logins per account and client address"`
	// AuthAccountWideRateLimit is the ceiling per account across every
	// client, against guessing from many addresses; a login with the right
	// password is given back. It must be higher than what one client may
	// spend on one account (AuthAccountRateLimit, or AuthAddrRateLimit when
	// that is off), so that no single client can keep it empty and lock the
	// owner out. 0 turns it off.
	AuthAccountWideRateLimit float64 `yaml:"auth_account_wide_rate_limit" env:"AUTH_ACCOUNT_WIDE_RATE_LIMIT" help:"failed logins per second per account from all clients together; 0 turns it off"`
	// AuthAccountWideRateBurst is how many failed attempts an account may see
	// from all clients together before the ceiling applies; more than one
	// client's burst (AuthAccountRateBurst).
	AuthAccountWideRateBurst int `yaml:"auth_account_wide_rate_burst" env:"AUTH_ACCOUNT_WIDE_RATE_BURST" help:"burst of failed logins per account from all clients together"`
	// AuthKnownClientTTL is how long a client address that logged in to an
	// account with the right password stays known to it: its logins skip
	// the account-wide ceiling (AuthAccountWideRateLimit), so guessing from
	// many addresses cannot keep the owner out from an address they used
	// lately. The per-client limits still apply. 0 turns it off.
	AuthKnownClientTTL time.Duration `yaml:"auth_known_client_ttl" env:"AUTH_KNOWN_CLIENT_TTL" help:"how long an address that logged in skips its account's account-wide limit; 0: off"`
	// AuthFailureDelay is the wait a failed login imposes on the next
	// attempt at its account from the same client address; each failure in
	// a row doubles it, up to AuthFailureDelayMax, and a success ends the
	// streak. 0 turns it off.
	AuthFailureDelay time.Duration `yaml:"auth_failure_delay" env:"AUTH_FAILURE_DELAY" help:"one client's wait at one account after a failed login, doubled per failure; 0: off"`
	// AuthFailureDelayMax caps that wait. It slows the guessing client
	// only: the owner at another address does not wait.
	AuthFailureDelayMax time.Duration `yaml:"auth_failure_delay_max" env:"AUTH_FAILURE_DELAY_MAX" help:"cap on AUTH_FAILURE_DELAY as it doubles"`
	// AuthTrustedProxies are the proxies (IPs or CIDRs, comma separated)
	// whose X-Forwarded-For names the client for the limits above; empty
	// trusts none, and the client is the connection's peer.
	AuthTrustedProxies string `yaml:"auth_trusted_proxies" env:"AUTH_TRUSTED_PROXIES" help:"proxies (IPs or CIDRs, comma separated) whose X-Forwarded-For names the client"`
	// AuthHashQueueTimeout is how long a login or registration waits for a
	// free password-hashing slot before it is refused (RESOURCE_EXHAUSTED,
	// HTTP 429, with Retry-After), so a flood cannot queue every login
	// behind it.
	AuthHashQueueTimeout time.Duration `yaml:"auth_hash_queue_timeout" env:"AUTH_HASH_QUEUE_TIMEOUT" help:"longest wait for a password-hashing slot before a login is refused"`
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

		// An address: a household's or office's logins never fail 20 times
		// in a row, and a guesser gets one try a second after that.
		AuthAddrRateLimit: 1,
		AuthAddrRateBurst: 20,
		// One client at one account: a person mistypes a few times, not 5
		// in a row; then one guess every 20 s (the failure delay is usually
		// longer).
		AuthAccountRateLimit: 0.05,
		AuthAccountRateBurst: 5,
		// One account from every client: no owner fails 100 times, and
		// then one guess every 10 s from all of them together (8,640 a
		// day), twice what one client may spend, so no one client keeps it
		// empty.
		AuthAccountWideRateLimit: 0.1,
		AuthAccountWideRateBurst: 100,
		// A month: the owner's home and office stay known between logins.
		AuthKnownClientTTL: 30 * 24 * time.Hour,
		// 1 s, 2 s, 4 s ... at most a minute between one client's guesses
		// at one account.
		AuthFailureDelay:    time.Second,
		AuthFailureDelayMax: time.Minute,
		// About 20 hashes' work on two cores: a valid login waits at most that.
		AuthHashQueueTimeout: time.Second,
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
	errs = append(errs, c.validateAuthLimits())
	return errors.Join(errs...)
}

// maxAuthRate is the highest rate the limiters can enforce: one attempt a
// microsecond.
const maxAuthRate = 1e6

// maxKnownClientTTL is the longest a client stays known to an account.
const maxKnownClientTTL = 365 * 24 * time.Hour

func (c *Config) validateAuthLimits() error {
	var errs []error
	bad := func(key, value, reason string) {
		errs = append(errs, &config.Error{Key: key, Value: value, Reason: reason})
	}
	rate := func(rateKey string, rate float64, burstKey string, burst int) {
		if rate < 0 || rate > maxAuthRate || math.IsNaN(rate) {
			bad(rateKey, strconv.FormatFloat(rate, 'g', -1, 64), "want attempts per second from 0 (no limit) to 1e6")
		}
		if rate > 0 && burst < 1 {
			bad(burstKey, strconv.Itoa(burst), "want at least 1 when "+rateKey+" is set")
		}
	}
	rate("AUTH_ADDR_RATE_LIMIT", c.AuthAddrRateLimit, "AUTH_ADDR_RATE_BURST", c.AuthAddrRateBurst)
	rate("AUTH_ACCOUNT_RATE_LIMIT", c.AuthAccountRateLimit, "AUTH_ACCOUNT_RATE_BURST", c.AuthAccountRateBurst)
	rate("AUTH_ACCOUNT_WIDE_RATE_LIMIT", c.AuthAccountWideRateLimit, "AUTH_ACCOUNT_WIDE_RATE_BURST", c.AuthAccountWideRateBurst)
	if wide := c.AuthAccountWideRateLimit; wide > 0 && wide <= maxAuthRate {
		// What one client may spend on one account: the tightest of its limits.
		clientKey, client := "AUTH_ACCOUNT_RATE_LIMIT", c.AuthAccountRateLimit
		if client == 0 {
			clientKey, client = "AUTH_ADDR_RATE_LIMIT", c.AuthAddrRateLimit
		}
		wideShown := strconv.FormatFloat(wide, 'g', -1, 64)
		switch {
		case client == 0:
			bad("AUTH_ACCOUNT_WIDE_RATE_LIMIT", wideShown,
				"want 0 while AUTH_ACCOUNT_RATE_LIMIT and AUTH_ADDR_RATE_LIMIT are 0: one client could keep it empty and lock the owner out")
		case wide <= client:
			bad("AUTH_ACCOUNT_WIDE_RATE_LIMIT", wideShown, "want more than "+clientKey+" ("+
				strconv.FormatFloat(client, 'g', -1, 64)+"), so that one client cannot keep it empty and lock the owner out")
		}
		if c.AuthAccountRateLimit > 0 && c.AuthAccountWideRateBurst <= c.AuthAccountRateBurst {
			bad("AUTH_ACCOUNT_WIDE_RATE_BURST", strconv.Itoa(c.AuthAccountWideRateBurst),
				"want more than AUTH_ACCOUNT_RATE_BURST ("+strconv.Itoa(c.AuthAccountRateBurst)+")")
		}
	}
	if c.AuthKnownClientTTL < 0 || (c.AuthKnownClientTTL > 0 && c.AuthKnownClientTTL < time.Minute) || c.AuthKnownClientTTL > maxKnownClientTTL {
		bad("AUTH_KNOWN_CLIENT_TTL", c.AuthKnownClientTTL.String(), "want 0 (off) or between 1m and 8760h (a year)")
	}
	switch {
	case c.AuthFailureDelay < 0 || (c.AuthFailureDelay > 0 && c.AuthFailureDelay < time.Millisecond) || c.AuthFailureDelay > time.Hour:
		bad("AUTH_FAILURE_DELAY", c.AuthFailureDelay.String(), "want 0 (off) or between 1ms and 1h")
	case c.AuthFailureDelay > 0 && (c.AuthFailureDelayMax < c.AuthFailureDelay || c.AuthFailureDelayMax > time.Hour):
		bad("AUTH_FAILURE_DELAY_MAX", c.AuthFailureDelayMax.String(), "want between AUTH_FAILURE_DELAY ("+c.AuthFailureDelay.String()+") and 1h")
	}
	if _, err := c.TrustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if c.AuthHashQueueTimeout < time.Millisecond || c.AuthHashQueueTimeout > time.Minute {
		bad("AUTH_HASH_QUEUE_TIMEOUT", c.AuthHashQueueTimeout.String(), "want between 1ms and 1m")
	}
	return errors.Join(errs...)
}

// TrustedProxies parses AuthTrustedProxies: comma-separated IPs or CIDRs,
// spaces ignored; an IP is a one-address prefix.
func (c *Config) TrustedProxies() ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, entry := range strings.Split(c.AuthTrustedProxies, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if p, err := netip.ParsePrefix(entry); err == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return nil, &config.Error{Key: "AUTH_TRUSTED_PROXIES", Value: c.AuthTrustedProxies,
				Reason: fmt.Sprintf("%q: want an IP address or a CIDR such as 10.0.0.0/8", entry)}
		}
		prefixes = append(prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return prefixes, nil
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
