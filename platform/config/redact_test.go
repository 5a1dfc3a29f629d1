package config_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/redact"
)

const fingerprintKey = "test-fingerprint-key-0123456789"

func TestRedacted(t *testing.T) {
	const password, key = "s3cr3t-pw", "k3y-value"
	c := newTestConfig()
	c.DatabaseURL = "postgres://app:" + password + "@db:5432/shop?sslmode=disable"
	c.APIKey = key
	c.Surface.FingerprintKey = fingerprintKey

	got := config.Redacted(c)

	assert.Equal(t, redact.NewFingerprinter([]byte(fingerprintKey)).Secret(key), got["api_key"])
	assert.Equal(t, redact.NewFingerprinter([]byte(fingerprintKey)).Secret(fingerprintKey), got["config_fingerprint_key"],
		"the key itself shows only as its fingerprint")
	assert.Equal(t, "postgres://app:xxxxx@db:5432/shop?sslmode=disable", got["database_url"])
	assert.Equal(t, "5s", got["drain_delay"])
	assert.Equal(t, 4<<20, got["max_message_bytes"])
	assert.Equal(t, []string{"http://localhost:8080"}, got["cors_allowed_origins"])
	assert.Equal(t, []string{}, got["tags"], "nil lists show as empty, so nil and [] hash alike")
	assert.Equal(t, map[string]any{"ttl": "1m0s", "size": 100}, got["cache"])
	assert.NotContains(t, got, "service", "yaml:\"-\" fields are not configuration keys")
	assert.NotContains(t, got, "Base")

	out, err := json.Marshal(got)
	require.NoError(t, err)
	assert.NotContains(t, string(out), password)
	assert.NotContains(t, string(out), key)
	assert.NotContains(t, fmt.Sprint(got), password)
	assert.NotContains(t, fmt.Sprint(got), key)
}

func TestRedactedURLs(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{in: "sqlite://.slipway/data/user.db", want: "sqlite://.slipway/data/user.db"},
		{in: "postgres://app@db/shop", want: "postgres://app@db/shop"},
		{in: "postgres://app:pw@db/shop", want: "postgres://app:xxxxx@db/shop"},
		{in: "postgres://db/shop?password=pw&user=app", want: "postgres://db/shop?password=xxxxx&user=app"},
		{in: "", want: ""},
		{in: "postgres://app:pw@db:bad port/%zz", want: redact.Hidden},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b config.Base
			b.DatabaseURL = tt.in
			assert.Equal(t, tt.want, config.Redacted(&b)["database_url"])
		})
	}
}

// The fingerprints of secrets are keyed by CONFIG_FINGERPRINT_KEY: equal
// between instances that share the key, unrelated otherwise, and never the
// unkeyed SHA-256 a dictionary can be run against.
func TestSecretFingerprintsAreKeyed(t *testing.T) {
	const adminPassword = "changeme"
	fingerprint := func(key string) string {
		c := newTestConfig()
		c.APIKey = adminPassword
		c.Surface.FingerprintKey = key
		return config.Redacted(c)["api_key"].(string)
	}
	sum := sha256.Sum256([]byte(adminPassword))
	unkeyed := hex.EncodeToString(sum[:])

	one, again, other := fingerprint(fingerprintKey), fingerprint(fingerprintKey), fingerprint("another-deployment-key-98765")
	assert.True(t, strings.HasPrefix(one, redact.FingerprintPrefix), one)
	assert.Equal(t, one, again, "instances with one key compare")
	assert.NotEqual(t, one, other)
	assert.NotContains(t, one, unkeyed, "not the unkeyed SHA-256 of the value")

	unset := fingerprint("")
	assert.True(t, strings.HasPrefix(unset, redact.FingerprintPrefix), "no key: the process's random key, still keyed")
	assert.NotContains(t, unset, unkeyed)
	assert.Equal(t, unset, fingerprint(""), "stable within the process")

	c := newTestConfig()
	c.Surface.FingerprintKey = fingerprintKey
	h1 := config.Hash(c)
	c.Surface.FingerprintKey = "another-deployment-key-98765"
	assert.NotEqual(t, h1, config.Hash(c), "the config hash covers the keyed fingerprints")
}

func TestRedactedNotAStruct(t *testing.T) {
	assert.Empty(t, config.Redacted(nil))
	assert.Empty(t, config.Redacted(42))
	assert.Empty(t, config.Redacted((*testConfig)(nil)))
}

// Two configs with the same keys in a different field order.
type orderA struct {
	Addr    string        `yaml:"addr"`
	Timeout time.Duration `yaml:"timeout"`
	Secret  string        `yaml:"secret" secret:"true"`
	List    []string      `yaml:"list"`
}

type orderB struct {
	List    []string      `yaml:"list"`
	Secret  string        `yaml:"secret" secret:"true"`
	Timeout time.Duration `yaml:"timeout"`
	Addr    string        `yaml:"addr"`
}

func TestHash(t *testing.T) {
	a := orderA{Addr: ":1", Timeout: time.Second, Secret: "x", List: []string{"a"}}
	b := orderB{Addr: ":1", Timeout: time.Second, Secret: "x", List: []string{"a"}}
	base := config.Hash(a)
	require.Len(t, base, 64)

	t.Run("stable across field order", func(t *testing.T) {
		assert.Equal(t, base, config.Hash(b))
	})
	t.Run("stable across calls and pointer or value", func(t *testing.T) {
		assert.Equal(t, base, config.Hash(a))
		assert.Equal(t, base, config.Hash(&a))
	})
	t.Run("nil and empty lists hash alike", func(t *testing.T) {
		x, y := a, a
		x.List, y.List = nil, []string{}
		assert.Equal(t, config.Hash(x), config.Hash(y))
	})

	changes := []struct {
		name   string
		mutate func(c *orderA)
	}{
		{"plain value", func(c *orderA) { c.Addr = ":2" }},
		{"duration", func(c *orderA) { c.Timeout = 2 * time.Second }},
		{"secret", func(c *orderA) { c.Secret = "y" }},
		{"list", func(c *orderA) { c.List = []string{"a", "b"} }},
	}
	for _, tt := range changes {
		t.Run("changes with "+tt.name, func(t *testing.T) {
			c := a
			tt.mutate(&c)
			assert.NotEqual(t, base, config.Hash(c))
		})
	}
}
