package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/errkind"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return key
}

func sign(t *testing.T, s *Signer, c Claims) string {
	t.Helper()
	token, _, err := s.Sign(c)
	require.NoError(t, err)
	return token
}

var alice = Claims{Subject: "0192f0c6-0000-7000-8000-000000000001", Email: "alice@example.com", Role: RoleCustomer}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := newKey(t)
	s := NewSigner(key, "slipway", time.Hour)

	token, expires, err := s.Sign(alice)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), expires, 2*time.Second)

	got, err := NewKeyVerifier(key.Public().(ed25519.PublicKey), "slipway").Verify(t.Context(), token)
	require.NoError(t, err)
	assert.Equal(t, alice.Subject, got.Subject)
	assert.Equal(t, alice.Email, got.Email)
	assert.Equal(t, RoleCustomer, got.Role)
	assert.True(t, expires.Equal(got.ExpiresAt), "expires %v, got %v", expires, got.ExpiresAt)
}

func TestSignerKeyIDIsRFC7638Thumbprint(t *testing.T) {
	// RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
	seed := []byte{
		0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
		0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
	}
	s := NewSigner(ed25519.NewKeyFromSeed(seed), "slipway", time.Hour)
	assert.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", s.KeyID())

	parsed, err := jwt.ParseSigned(sign(t, s, alice), []jose.SignatureAlgorithm{jose.EdDSA})
	require.NoError(t, err)
	assert.Equal(t, s.KeyID(), parsed.Headers[0].KeyID)
	assert.Equal(t, "EdDSA", parsed.Headers[0].Algorithm)
}

func TestSignRejectsIncompleteClaims(t *testing.T) {
	s := NewSigner(newKey(t), "slipway", time.Hour)
	for name, c := range map[string]Claims{
		"no subject":   {Role: RoleCustomer},
		"unknown role": {Subject: "x", Role: "root"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.Sign(c)
			assert.Error(t, err)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	good := NewSigner(key, "slipway", time.Hour)

	expired := NewSigner(key, "slipway", time.Hour)
	expired.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	notYet := NewSigner(key, "slipway", time.Hour)
	notYet.now = func() time.Time { return time.Now().Add(10 * time.Minute) }

	// A token that claims the trusted kid but is signed by another key.
	forger, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: newKey(t)},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", good.KeyID()))
	require.NoError(t, err)
	forged, err := jwt.Signed(forger).Claims(jwt.Claims{
		Issuer: "slipway", Subject: "x", Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).Claims(tokenClaims{Role: RoleAdmin}).Serialize()
	require.NoError(t, err)

	// An HMAC token keyed with the public key: the classic algorithm confusion.
	hmac, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(pub)},
		(&jose.SignerOptions{}).WithHeader("kid", good.KeyID()))
	require.NoError(t, err)
	confused, err := jwt.Signed(hmac).Claims(jwt.Claims{
		Issuer: "slipway", Subject: "x", Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).Claims(tokenClaims{Role: RoleAdmin}).Serialize()
	require.NoError(t, err)

	tests := []struct {
		name  string
		token string
	}{
		{"expired", sign(t, expired, alice)},
		{"not yet valid", sign(t, notYet, alice)},
		{"wrong key", sign(t, NewSigner(newKey(t), "slipway", time.Hour), alice)},
		{"forged signature", forged},
		{"hmac algorithm", confused},
		{"wrong issuer", sign(t, NewSigner(key, "someone-else", time.Hour), alice)},
		{"tampered payload", tamper(t, sign(t, good, alice))},
		{"garbage", "not.a.jwt"},
		{"empty", ""},
		{"oversized", strings.Repeat("a", maxTokenBytes+1)},
	}
	v := NewKeyVerifier(pub, "slipway")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tt.token)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidToken)
			assert.ErrorIs(t, err, errkind.Unauthenticated)
		})
	}

	t.Run("small clock skew is tolerated", func(t *testing.T) {
		skewed := NewSigner(key, "slipway", time.Hour)
		skewed.now = func() time.Time { return time.Now().Add(10 * time.Second) }
		_, err := v.Verify(t.Context(), sign(t, skewed, alice))
		assert.NoError(t, err)
	})
}

// tamper swaps the payload of a compact JWS for one with an admin role.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	payload = []byte(strings.Replace(string(payload), `"customer"`, `"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestJWKSHandler(t *testing.T) {
	s := NewSigner(newKey(t), "slipway", time.Hour)
	srv := httptest.NewServer(s.JWKS())
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "application/jwk-set+json", resp.Header.Get("Content-Type"))

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	require.Len(t, set.Keys, 1)
	k := set.Keys[0]
	assert.Equal(t, "OKP", k["kty"])
	assert.Equal(t, "Ed25519", k["crv"])
	assert.Equal(t, "EdDSA", k["alg"])
	assert.Equal(t, "sig", k["use"])
	assert.Equal(t, s.KeyID(), k["kid"])
	assert.NotContains(t, k, "d", "the private key must never be published")

	post, err := http.Post(srv.URL, "application/json", nil)
	require.NoError(t, err)
	post.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, post.StatusCode)
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "user-ed25519.pem")

	created, err := LoadOrCreateKey(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	loaded, err := LoadOrCreateKey(path)
	require.NoError(t, err)
	assert.True(t, created.Equal(loaded), "the second call must load the key the first wrote")

	t.Run("not a PEM key", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.pem")
		require.NoError(t, os.WriteFile(bad, []byte("hello"), 0o600))
		_, err := LoadOrCreateKey(bad)
		assert.ErrorContains(t, err, "PKCS#8")
	})
}
