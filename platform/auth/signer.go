package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// jwksMaxAge is how long clients may cache the key set. Verifiers refetch
// early on an unknown kid, so rotation does not wait for it.
const jwksMaxAge = 5 * time.Minute

// tokenClaims is the JWT payload beyond the registered claims.
type tokenClaims struct {
	Email string `json:"email,omitempty"`
	Role  Role   `json:"role"`
}

// Signer signs EdDSA (Ed25519) JWTs; its kid is the RFC 7638 thumbprint of
// the public key, so the key set identifies keys without a registry.
type Signer struct {
	signer jose.Signer
	pub    ed25519.PublicKey
	kid    string
	issuer string
	ttl    time.Duration
	jwks   []byte
	now    func() time.Time
}

// NewSigner returns a Signer for key that stamps issuer and expires tokens
// after ttl. It panics on a malformed key, which is a programming error: keys
// come from LoadOrCreateKey or ed25519.NewKeyFromSeed.
func NewSigner(key ed25519.PrivateKey, issuer string, ttl time.Duration) *Signer {
	if len(key) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("auth: Ed25519 private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize))
	}
	pub := key.Public().(ed25519.PublicKey)
	kid, err := Thumbprint(pub)
	if err != nil {
		panic(fmt.Sprintf("auth: thumbprint: %v", err))
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, opts)
	if err != nil {
		panic(fmt.Sprintf("auth: new signer: %v", err))
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       pub,
		KeyID:     kid,
		Algorithm: string(jose.EdDSA),
		Use:       "sig",
	}}}
	jwks, err := json.Marshal(set)
	if err != nil {
		panic(fmt.Sprintf("auth: marshal key set: %v", err))
	}
	return &Signer{signer: signer, pub: pub, kid: kid, issuer: issuer, ttl: ttl, jwks: jwks, now: time.Now}
}

// KeyID returns the kid of the signing key (its RFC 7638 thumbprint).
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the key that verifies this Signer's tokens.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// Sign returns a compact JWS for c and the time it expires. c.ExpiresAt is
// ignored: the Signer's ttl decides.
func (s *Signer) Sign(c Claims) (string, time.Time, error) {
	if c.Subject == "" {
		return "", time.Time{}, errors.New("auth: sign: empty subject")
	}
	if !c.Role.Valid() {
		return "", time.Time{}, fmt.Errorf("auth: sign: unknown role %q", c.Role)
	}
	now := s.now().Truncate(time.Second)
	expires := now.Add(s.ttl)
	registered := jwt.Claims{
		Issuer:    s.issuer,
		Subject:   c.Subject,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(expires),
		ID:        rand.Text(),
	}
	token, err := jwt.Signed(s.signer).Claims(registered).Claims(tokenClaims{Email: c.Email, Role: c.Role}).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign: %w", err)
	}
	return token, expires, nil
}

// JWKS returns the handler that serves the public key set, mounted at
// /.well-known/jwks.json.
func (s *Signer) JWKS() http.Handler {
	cacheControl := fmt.Sprintf("public, max-age=%d", int(jwksMaxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", cacheControl)
		_, _ = w.Write(s.jwks)
	})
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// encoded without padding: the kid of that key.
func Thumbprint(pub ed25519.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// LoadOrCreateKey reads the PKCS#8 PEM Ed25519 key at path, or generates one
// and writes it there (mode 0600, parent directories 0700) when the file does
// not exist, so a laptop gets a stable key without any setup.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	path = filepath.Clean(path)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseKey(path, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("auth: read signing key: %w", err)
	}

	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("auth: create signing key directory: %w", err)
	}
	// O_EXCL: when two processes race to create the key, one wins and the
	// other reads the winner's key instead of overwriting it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyWhenWritten(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create signing key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("auth: write signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("auth: write signing key: %w", err)
	}
	return key, nil
}

// readKeyWhenWritten reads a key file another process has just created,
// waiting briefly for its writer to finish.
func readKeyWhenWritten(path string) (ed25519.PrivateKey, error) {
	path = filepath.Clean(path)
	var err error
	for range 20 {
		var data []byte
		if data, err = os.ReadFile(path); err == nil && len(data) > 0 {
			return parseKey(path, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err == nil {
		err = errors.New("file stayed empty")
	}
	return nil, fmt.Errorf("auth: read signing key %s: %w", path, err)
}

func parseKey(path string, data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("auth: signing key %s: not a PKCS#8 PEM \"PRIVATE KEY\"", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s: %w", path, err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("auth: signing key %s: %T is not Ed25519", path, parsed)
	}
	return key, nil
}
