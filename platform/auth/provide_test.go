package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// jwksServer serves signer's key set over TLS with the certificate in
// files, and counts the requests that reach it.
func jwksServer(t *testing.T, files config.TLS, signer *Signer) (*httptest.Server, *int) {
	t.Helper()
	certs, err := tlsconfig.Load(files)
	require.NoError(t, err)
	var hits int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		signer.JWKS().ServeHTTP(w, r)
	}))
	srv.TLS = certs.HTTPServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestProvideJWKSVerifierOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, attacker := tlstest.NewCA(t, "slipway"), tlstest.NewCA(t, "attacker")
	signer := NewSigner(newKey(t), DefaultIssuer, time.Hour)
	token := sign(t, signer, alice)

	var base config.Base
	base.SetDefaults("order", 0, 0)
	base.TLS = tlstest.Files(t, dir, "order", ca.Service(t, "order"), ca)

	t.Run("the issuer's certificate is trusted", func(t *testing.T) {
		srv, hits := jwksServer(t, tlstest.Files(t, dir, "user", ca.Service(t, "user"), ca), signer)
		base.JWKSURL = srv.URL + "/.well-known/jwks.json"
		c, err := ProvideJWKSVerifier(base).Verify(context.Background(), token)
		require.NoError(t, err)
		assert.Equal(t, alice.Subject, c.Subject)
		assert.Equal(t, 1, *hits)
	})
	t.Run("a key set served with another CA's certificate is refused", func(t *testing.T) {
		forger := NewSigner(newKey(t), DefaultIssuer, time.Hour)
		srv, _ := jwksServer(t, tlstest.Files(t, dir, "rogue", attacker.Service(t, "user"), attacker), forger)
		base.JWKSURL = srv.URL + "/.well-known/jwks.json"
		_, err := ProvideJWKSVerifier(base).Verify(context.Background(), sign(t, forger, alice))
		assert.ErrorIs(t, err, ErrKeysUnavailable, "the forger's keys are never fetched")
	})
	t.Run("a plaintext key set is never fetched", func(t *testing.T) {
		plain := httptest.NewServer(signer.JWKS())
		t.Cleanup(plain.Close)
		base.JWKSURL = plain.URL + "/.well-known/jwks.json"
		_, err := ProvideJWKSVerifier(base).Verify(context.Background(), token)
		assert.ErrorIs(t, err, ErrKeysUnavailable)
	})
}
