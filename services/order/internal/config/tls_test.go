package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/order/internal/config"
)

// Under TLS the order service calls inventory with its certificate, so it
// needs no service account password; in plaintext it still does.
func TestServiceAccountPasswordOptionalUnderTLS(t *testing.T) {
	tlsOn := map[string]string{
		"SERVICE_ACCOUNT_PASSWORD": "",
		"TLS_CERT_FILE":            "/tls/order.pem",
		"TLS_KEY_FILE":             "/tls/order-key.pem",
		"TLS_CA_FILE":              "/tls/ca.pem",
		"AUTH_JWKS_URL":            "https://user:8081/.well-known/jwks.json",
	}
	c, err := config.Load("", env(tlsOn))
	require.NoError(t, err)
	assert.True(t, c.TLS.Enabled())
	assert.Empty(t, c.ServiceAccountPassword)

	tlsOn["SERVICE_ACCOUNT_PASSWORD"] = "short"
	_, err = config.Load("", env(tlsOn))
	assert.ErrorContains(t, err, "at least 8", "a password that is set is still checked")

	_, err = config.Load("", env(map[string]string{"SERVICE_ACCOUNT_PASSWORD": ""}))
	assert.ErrorContains(t, err, `SERVICE_ACCOUNT_PASSWORD="": must be set when TLS is off`)
}
