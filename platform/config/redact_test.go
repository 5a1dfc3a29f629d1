package config_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestRedacted(t *testing.T) {
	const password, key = "s3cr3t-pw", "k3y-value"
	c := newTestConfig()
	c.DatabaseURL = "postgres://app:" + password + "@db:5432/shop?sslmode=disable"
	c.APIKey = key

	got := config.Redacted(c)

	assert.Equal(t, sha(key), got["api_key"])
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
		{in: "postgres://app:pw@db:bad port/%zz", want: sha("postgres://app:pw@db:bad port/%zz")},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b config.Base
			b.DatabaseURL = tt.in
			assert.Equal(t, tt.want, config.Redacted(&b)["database_url"])
		})
	}
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
