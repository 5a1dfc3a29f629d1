package config_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformconfig "github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/services/user/internal/config"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaults(t *testing.T) {
	c := config.New()
	require.NoError(t, platformconfig.Load(c, "", env(nil)))
	assert.Equal(t, "user", c.Service)
	assert.Equal(t, ":50051", c.GRPCAddr)
	assert.Equal(t, ":8081", c.HTTPAddr)
	assert.Equal(t, "sqlite://.slipway/data/user.db", c.DatabaseURL)
	assert.Equal(t, ".slipway/keys/user-ed25519.pem", c.SigningKeyFile)
	assert.Equal(t, "slipway", c.Issuer)
	assert.Equal(t, time.Hour, c.TokenTTL)
	assert.Empty(t, c.AdminEmail)
	assert.Equal(t, time.Minute, c.UserCacheTTL)
	assert.Empty(t, c.RedisURL, "the cache is in memory unless REDIS_URL is set")
	assert.Equal(t, 1.0, c.AuthAddrRateLimit)
	assert.Equal(t, 20, c.AuthAddrRateBurst)
	assert.Equal(t, 0.05, c.AuthAccountRateLimit)
	assert.Equal(t, 5, c.AuthAccountRateBurst)
	assert.Equal(t, 0.1, c.AuthAccountWideRateLimit)
	assert.Equal(t, 100, c.AuthAccountWideRateBurst)
	assert.Equal(t, 30*24*time.Hour, c.AuthKnownClientTTL)
	assert.Greater(t, c.AuthAccountWideRateLimit, c.AuthAccountRateLimit, "one client cannot keep the account-wide budget empty")
	assert.Equal(t, time.Second, c.AuthFailureDelay)
	assert.Equal(t, time.Minute, c.AuthFailureDelayMax)
	assert.Empty(t, c.AuthTrustedProxies, "X-Forwarded-For is trusted from no one by default")
	assert.Equal(t, time.Second, c.AuthHashQueueTimeout)
}

func TestTrustedProxies(t *testing.T) {
	c := config.New()
	c.AuthTrustedProxies = "10.1.2.3/8, 192.0.2.1, ::ffff:198.51.100.7, 2001:db8::/32"
	got, err := c.TrustedProxies()
	require.NoError(t, err)
	var shown []string
	for _, p := range got {
		shown = append(shown, p.String())
	}
	assert.Equal(t, []string{"10.0.0.0/8", "192.0.2.1/32", "198.51.100.7/32", "2001:db8::/32"}, shown)
}

func TestLoadFileThenEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "user.yaml")
	require.NoError(t, os.WriteFile(path, []byte("issuer: from-file\ntoken_ttl: 30m\nadmin_email: root@example.com\nadmin_password: from-file-pw\n"), 0o600))

	c := config.New()
	require.NoError(t, platformconfig.Load(c, path, env(map[string]string{
		"AUTH_TOKEN_TTL": "2h",
		"ADMIN_PASSWORD": "from-env-password",
	})))
	assert.Equal(t, "from-file", c.Issuer)
	assert.Equal(t, 2*time.Hour, c.TokenTTL, "the environment wins over the file")
	assert.Equal(t, "root@example.com", c.AdminEmail)
	assert.Equal(t, "from-env-password", c.AdminPassword)
}

func TestValidate(t *testing.T) {
	seed := base64.StdEncoding.EncodeToString(make([]byte, ed25519.SeedSize))
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; "" means valid
	}{
		{name: "defaults", env: nil},
		{name: "inline seed", env: map[string]string{"AUTH_SIGNING_KEY": seed}},
		{name: "admin pair", env: map[string]string{"ADMIN_EMAIL": "a@example.com", "ADMIN_PASSWORD": "long-enough"}},
		{name: "seed not base64", env: map[string]string{"AUTH_SIGNING_KEY": "!!!"}, wantErr: `AUTH_SIGNING_KEY="<secret>": not base64`},
		{name: "seed too short", env: map[string]string{"AUTH_SIGNING_KEY": "c2hvcnQ="}, wantErr: "want a 32-byte Ed25519 seed"},
		{name: "ttl too long", env: map[string]string{"AUTH_TOKEN_TTL": "48h"}, wantErr: `AUTH_TOKEN_TTL="48h0m0s"`},
		{name: "admin email alone", env: map[string]string{"ADMIN_EMAIL": "a@example.com"}, wantErr: "ADMIN_PASSWORD"},
		{name: "admin password alone", env: map[string]string{"ADMIN_PASSWORD": "long-enough"}, wantErr: "ADMIN_EMAIL"},
		{name: "admin password short", env: map[string]string{"ADMIN_EMAIL": "a@example.com", "ADMIN_PASSWORD": "short"}, wantErr: "at least 8"},
		{name: "base keys still checked", env: map[string]string{"GRPC_ADDR": "nope"}, wantErr: "GRPC_ADDR"},
		{name: "cache off", env: map[string]string{"USER_CACHE_TTL": "0s"}},
		{name: "cache in redis", env: map[string]string{"REDIS_URL": "redis://redis:6379/0", "USER_CACHE_TTL": "5m"}},
		{name: "cache ttl negative", env: map[string]string{"USER_CACHE_TTL": "-1s"}, wantErr: `USER_CACHE_TTL="-1s": want between 0 (no cache) and 1h`},
		{name: "cache ttl too long", env: map[string]string{"USER_CACHE_TTL": "2h"}, wantErr: `USER_CACHE_TTL="2h0m0s"`},
		{name: "redis url", env: map[string]string{"REDIS_URL": "redis//nope"}, wantErr: "REDIS_URL"},
		{name: "auth limits off", env: map[string]string{"AUTH_ADDR_RATE_LIMIT": "0", "AUTH_ACCOUNT_RATE_LIMIT": "0",
			"AUTH_ACCOUNT_WIDE_RATE_LIMIT": "0", "AUTH_FAILURE_DELAY": "0s"}},
		{name: "auth limits tuned", env: map[string]string{"AUTH_ADDR_RATE_LIMIT": "5", "AUTH_ADDR_RATE_BURST": "100",
			"AUTH_ACCOUNT_RATE_LIMIT": "0.5", "AUTH_ACCOUNT_RATE_BURST": "3", "AUTH_ACCOUNT_WIDE_RATE_LIMIT": "2",
			"AUTH_ACCOUNT_WIDE_RATE_BURST": "50", "AUTH_FAILURE_DELAY": "100ms", "AUTH_FAILURE_DELAY_MAX": "2s",
			"AUTH_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.1 ,fd00::/8", "AUTH_HASH_QUEUE_TIMEOUT": "250ms"}},
		{name: "addr rate negative", env: map[string]string{"AUTH_ADDR_RATE_LIMIT": "-1"}, wantErr: `AUTH_ADDR_RATE_LIMIT="-1": want attempts per second`},
		{name: "addr burst zero", env: map[string]string{"AUTH_ADDR_RATE_BURST": "0"}, wantErr: `AUTH_ADDR_RATE_BURST="0": want at least 1`},
		{name: "account rate too high", env: map[string]string{"AUTH_ACCOUNT_RATE_LIMIT": "1e7"}, wantErr: `AUTH_ACCOUNT_RATE_LIMIT="1e+07"`},
		{name: "account burst zero", env: map[string]string{"AUTH_ACCOUNT_RATE_BURST": "0"}, wantErr: `AUTH_ACCOUNT_RATE_BURST="0"`},
		{name: "account-wide limit off", env: map[string]string{"AUTH_ACCOUNT_WIDE_RATE_LIMIT": "0", "AUTH_ACCOUNT_WIDE_RATE_BURST": "0"}},
		{name: "account-wide burst zero", env: map[string]string{"AUTH_ACCOUNT_WIDE_RATE_BURST": "0"}, wantErr: `AUTH_ACCOUNT_WIDE_RATE_BURST="0": want at least 1`},
		{name: "account-wide rate not above one client's", env: map[string]string{"AUTH_ACCOUNT_WIDE_RATE_LIMIT": "0.05"},
			wantErr: `AUTH_ACCOUNT_WIDE_RATE_LIMIT="0.05": want more than AUTH_ACCOUNT_RATE_LIMIT (0.05), so that one client cannot keep it empty`},
		{name: "account-wide rate not above one address's", env: map[string]string{"AUTH_ACCOUNT_RATE_LIMIT": "0", "AUTH_ACCOUNT_WIDE_RATE_LIMIT": "0.5"},
			wantErr: `AUTH_ACCOUNT_WIDE_RATE_LIMIT="0.5": want more than AUTH_ADDR_RATE_LIMIT (1)`},
		{name: "account-wide limit with no per-client limit", env: map[string]string{"AUTH_ACCOUNT_RATE_LIMIT": "0", "AUTH_ADDR_RATE_LIMIT": "0"},
			wantErr: `AUTH_ACCOUNT_WIDE_RATE_LIMIT="0.1": want 0 while AUTH_ACCOUNT_RATE_LIMIT and AUTH_ADDR_RATE_LIMIT are 0`},
		{name: "account-wide burst not above one client's", env: map[string]string{"AUTH_ACCOUNT_WIDE_RATE_BURST": "5"},
			wantErr: `AUTH_ACCOUNT_WIDE_RATE_BURST="5": want more than AUTH_ACCOUNT_RATE_BURST (5)`},
		{name: "known clients off", env: map[string]string{"AUTH_KNOWN_CLIENT_TTL": "0s"}},
		{name: "known client ttl too short", env: map[string]string{"AUTH_KNOWN_CLIENT_TTL": "30s"},
			wantErr: `AUTH_KNOWN_CLIENT_TTL="30s": want 0 (off) or between 1m and 8760h (a year)`},
		{name: "known client ttl too long", env: map[string]string{"AUTH_KNOWN_CLIENT_TTL": "9000h"}, wantErr: `AUTH_KNOWN_CLIENT_TTL="9000h0m0s"`},
		{name: "failure delay negative", env: map[string]string{"AUTH_FAILURE_DELAY": "-1s"}, wantErr: `AUTH_FAILURE_DELAY="-1s": want 0 (off) or between 1ms and 1h`},
		{name: "failure delay max below the delay", env: map[string]string{"AUTH_FAILURE_DELAY": "2s", "AUTH_FAILURE_DELAY_MAX": "1s"},
			wantErr: `AUTH_FAILURE_DELAY_MAX="1s": want between AUTH_FAILURE_DELAY (2s) and 1h`},
		{name: "trusted proxy not an address", env: map[string]string{"AUTH_TRUSTED_PROXIES": "10.0.0.0/8,ingress"},
			wantErr: `AUTH_TRUSTED_PROXIES="10.0.0.0/8,ingress": "ingress": want an IP address or a CIDR`},
		{name: "hash queue timeout zero", env: map[string]string{"AUTH_HASH_QUEUE_TIMEOUT": "0s"}, wantErr: `AUTH_HASH_QUEUE_TIMEOUT="0s": want between 1ms and 1m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := platformconfig.Load(config.New(), "", env(tt.env))
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			if v := tt.env["AUTH_SIGNING_KEY"]; v != "" {
				assert.NotContains(t, err.Error(), v, "a secret never appears in an error")
			}
			if v := tt.env["ADMIN_PASSWORD"]; v != "" {
				assert.NotContains(t, err.Error(), v, "a secret never appears in an error")
			}
		})
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	c := config.New()
	c.SigningKey = "c2VjcmV0"
	c.AdminPassword = "admin-password"
	shown := platformconfig.Redacted(c)
	assert.True(t, strings.HasPrefix(shown["signing_key"].(string), "hmac-sha256:"), "%v", shown["signing_key"])
	assert.True(t, strings.HasPrefix(shown["admin_password"].(string), "hmac-sha256:"), "%v", shown["admin_password"])
	assert.Equal(t, "slipway", shown["issuer"])
}

func TestSigningPrivateKey(t *testing.T) {
	t.Run("inline seed wins over the file", func(t *testing.T) {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = 7
		c := config.New()
		c.SigningKey = base64.RawURLEncoding.EncodeToString(seed)
		c.SigningKeyFile = filepath.Join(t.TempDir(), "never-created.pem")

		key, err := c.SigningPrivateKey()
		require.NoError(t, err)
		assert.True(t, ed25519.NewKeyFromSeed(seed).Equal(key))
		assert.NoFileExists(t, c.SigningKeyFile)
	})
	t.Run("file is created once and reused", func(t *testing.T) {
		c := config.New()
		c.SigningKeyFile = filepath.Join(t.TempDir(), "keys", "user.pem")
		first, err := c.SigningPrivateKey()
		require.NoError(t, err)
		second, err := c.SigningPrivateKey()
		require.NoError(t, err)
		assert.True(t, first.Equal(second))
	})
}

func TestServiceAccountList(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    []config.ServiceAccount
		wantErr string // substring; "" means valid
	}{
		{name: "none", value: ""},
		{name: "one", value: "order:xyzzy-7f3q", want: []config.ServiceAccount{{Name: "order", Password: "xyzzy-7f3q"}}},
		{
			name:  "several, spaces and empty entries ignored",
			value: " order:xyzzy-7f3q , notification:plugh-2k9w,",
			want:  []config.ServiceAccount{{Name: "order", Password: "xyzzy-7f3q"}, {Name: "notification", Password: "plugh-2k9w"}},
		},
		{name: "a password may hold a colon", value: "order:pass:word:1", want: []config.ServiceAccount{{Name: "order", Password: "pass:word:1"}}},
		{name: "no colon", value: "xyzzy-7f3q", wantErr: "entry 1: want name:password"},
		{name: "password and name swapped", value: "xyzzy-7F3Q:order", wantErr: "entry 1: want a name"},
		{name: "no name", value: ":xyzzy-7f3q", wantErr: "entry 1: want a name"},
		{name: "a name in upper case", value: "order:xyzzy-7f3q,Billing:xyzzy-7f3q", wantErr: "entry 2: want a name"},
		{name: "a short password", value: "order:xyzzy", wantErr: "entry 1 (order): password must have 8 to 128 characters"},
		{name: "a name twice", value: "order:xyzzy-7f3q,order:plugh-2k9w", wantErr: `entry 2: service account "order" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.New()
			c.ServiceAccounts = tt.value
			got, err := c.ServiceAccountList()

			loadErr := platformconfig.Load(config.New(), "", env(map[string]string{"SERVICE_ACCOUNTS": tt.value}))
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				assert.NoError(t, loadErr)
				return
			}
			for _, err := range []error{err, loadErr} {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "SERVICE_ACCOUNTS")
				assert.Contains(t, err.Error(), tt.wantErr)
				for _, secret := range []string{"xyzzy", "plugh"} {
					assert.NotContains(t, err.Error(), secret, "a password never appears in an error")
				}
			}
		})
	}
}

func TestServiceAccountsAreSecret(t *testing.T) {
	c := config.New()
	c.ServiceAccounts = "order:xyzzy-7f3q"
	shown := platformconfig.Redacted(c)
	assert.True(t, strings.HasPrefix(shown["service_accounts"].(string), "hmac-sha256:"), "%v", shown["service_accounts"])

	accounts, err := c.ServiceAccountList()
	require.NoError(t, err)
	require.Len(t, accounts, 1)
	for _, s := range []string{fmt.Sprint(accounts[0]), fmt.Sprintf("%+v", accounts), accounts[0].LogValue().String()} {
		assert.Equal(t, "order", strings.Trim(s, "[]"), "an account prints as its name")
	}
}
