package redact_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/redact"
)

func TestSecretShowsNothingOfTheValue(t *testing.T) {
	assert.Equal(t, "", redact.Secret(""), "empty says not set")
	assert.Equal(t, redact.Hidden, redact.Secret("hunter2"))
	assert.Equal(t, redact.Secret("a"), redact.Secret("b"), "not even whether two values differ")
}

func TestFingerprintsAreKeyed(t *testing.T) {
	k1 := redact.NewFingerprinter([]byte("deployment-key-one-0123456789"))
	k2 := redact.NewFingerprinter([]byte("deployment-key-two-0123456789"))
	assert.Equal(t, "", k1.Secret(""), "empty says not set")
	assert.Regexp(t, `^hmac-sha256:[0-9a-f]{64}$`, k1.Secret("secret"))
	assert.Equal(t, k1.Secret("secret"), redact.NewFingerprinter([]byte("deployment-key-one-0123456789")).Secret("secret"),
		"instances sharing a key compare")
	assert.NotEqual(t, k1.Secret("a"), k1.Secret("b"))
	assert.NotEqual(t, k1.Secret("secret"), k2.Secret("secret"), "another key, another fingerprint")
	r1, r2 := redact.RandomFingerprinter(), redact.RandomFingerprinter()
	assert.NotEqual(t, r1.Secret("secret"), r2.Secret("secret"), "random keys differ per process")
	assert.Equal(t, r1.Secret("secret"), r1.Secret("secret"))
}

// weakPasswords is the head of a cracking dictionary.
var weakPasswords = []string{"123456", "password", "admin", "letmein", "qwerty", "changeme", "admin123", "slipway", "hunter2", "dev-admin-pw"}

// crack tries every dictionary word against fingerprint, hashing each word
// the way the attacker can: unkeyed SHA-256, or HMAC with the keys they
// can guess (none, empty, the word itself).
func crack(fingerprint string) (string, bool) {
	for _, w := range weakPasswords {
		sum := sha256.Sum256([]byte(w))
		guesses := []string{
			"sha256:" + hex.EncodeToString(sum[:]),
			redact.NewFingerprinter(nil).Secret(w),
			redact.NewFingerprinter([]byte(w)).Secret(w),
			redact.NewFingerprinter([]byte("slipway")).Secret(w),
		}
		for _, g := range guesses {
			if strings.TrimPrefix(g, "sha256:") == strings.TrimPrefix(strings.TrimPrefix(fingerprint, "sha256:"), redact.FingerprintPrefix) ||
				g == fingerprint {
				return w, true
			}
		}
	}
	return "", false
}

func TestADictionaryAttackOnAFingerprintFailsWithoutTheKey(t *testing.T) {
	const adminPassword = "dev-admin-pw" // a weak password, in the dictionary
	oldScheme := func(s string) string { sum := sha256.Sum256([]byte(s)); return "sha256:" + hex.EncodeToString(sum[:]) }
	word, ok := crack(oldScheme(adminPassword))
	require.True(t, ok, "the unkeyed SHA-256 that /debug/config used to show falls to the dictionary")
	assert.Equal(t, adminPassword, word)

	fp := redact.NewFingerprinter([]byte("a0f3c9e4b1d27a86c5e09b3f14d6a8e2"))
	_, ok = crack(fp.Secret(adminPassword))
	assert.False(t, ok, "the keyed fingerprint does not")
	_, ok = crack(redact.RandomFingerprinter().Secret(adminPassword))
	assert.False(t, ok, "nor the per-process random key's")
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
	assert.Equal(t, redact.Hidden, redact.URL("://bad:pw@url"), "an unparsable URL is hidden whole")
}
