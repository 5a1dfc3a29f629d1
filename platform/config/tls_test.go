package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/config"
)

func TestTLSDefaults(t *testing.T) {
	var b config.Base
	b.SetDefaults("order", 50052, 8082)
	assert.Equal(t, config.TLS{TrustDomain: "slipway.local"}, b.TLS)
	assert.False(t, b.TLS.Enabled(), "plaintext is the default")
}

func TestTLSValidate(t *testing.T) {
	on := func(b *config.Base) {
		b.TLS.CertFile, b.TLS.KeyFile, b.TLS.CAFile = "/tls/order.pem", "/tls/order-key.pem", "/tls/ca.pem"
		b.JWKSURL = "https://user:8081/.well-known/jwks.json"
	}
	tests := []struct {
		name    string
		mutate  func(b *config.Base)
		wantErr []string
	}{
		{name: "tls on", mutate: on},
		{name: "plaintext jwks under tls", mutate: func(b *config.Base) {
			on(b)
			b.JWKSURL = "http://user:8081/.well-known/jwks.json"
		}, wantErr: []string{`config: AUTH_JWKS_URL="http://user:8081/.well-known/jwks.json": want an https:// URL when TLS is on (TLS_CERT_FILE is set)`}},
		{name: "cert without key and ca", mutate: func(b *config.Base) {
			on(b)
			b.TLS.KeyFile, b.TLS.CAFile = "", ""
		}, wantErr: []string{
			`config: TLS_KEY_FILE="": must be set when TLS_CERT_FILE is set`,
			`config: TLS_CA_FILE="": must be set when TLS_CERT_FILE is set`,
		}},
		{name: "key without cert", mutate: func(b *config.Base) { b.TLS.KeyFile = "/tls/k.pem" },
			wantErr: []string{`config: TLS_KEY_FILE="/tls/k.pem": set without TLS_CERT_FILE, so TLS would stay off; set TLS_CERT_FILE too, or unset it`}},
		{name: "bad trust domain", mutate: func(b *config.Base) { b.TLS.TrustDomain = "spiffe://Slipway" },
			wantErr: []string{`config: TLS_TRUST_DOMAIN="spiffe://Slipway": want a lower-case DNS name such as slipway.local`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b config.Base
			b.SetDefaults("order", 50052, 8082)
			tt.mutate(&b)
			err := b.Validate()
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			for _, want := range tt.wantErr {
				assert.ErrorContains(t, err, want)
			}
		})
	}
}
