package redact_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/redact"
)

func TestSecretHashesAndKeepsEmptyEmpty(t *testing.T) {
	assert.Equal(t, "", redact.Secret(""), "empty says not set")
	assert.Equal(t, "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b", redact.Secret("secret"))
	assert.NotEqual(t, redact.Secret("a"), redact.Secret("b"))
}

func TestURLMasksPasswordsOnly(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://app:s3cret@db:5432/shop", "postgres://app:xxxxx@db:5432/shop"},
		{"postgres://db/shop?user=app&password=s3cret", "postgres://db/shop?password=xxxxx&user=app"},
		{"redis://:pw@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"sqlite://.slipway/data/user.db", "sqlite://.slipway/data/user.db"}, // no password: as written
		{"postgres://app@db/shop", "postgres://app@db/shop"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, redact.URL(tt.in), tt.in)
	}
	assert.Equal(t, redact.Secret("://bad url"), redact.URL("://bad url"), "an unparsable URL is hashed whole")
}
