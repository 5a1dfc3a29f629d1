package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/slipway-dev/slipway/platform/errkind"
)

const (
	// leeway absorbs clock skew between the issuer and the verifier.
	leeway = 30 * time.Second
	// maxTokenBytes bounds the work an attacker can cause before the signature check.
	maxTokenBytes = 8 << 10
	// maxJWKSBytes bounds the key set response.
	maxJWKSBytes = 1 << 20
	// refetchInterval is the least time between two fetches that an unknown
	// kid triggers, so garbage tokens cannot flood the issuer.
	refetchInterval = 30 * time.Second
	// retryInterval is the least time between fetches after a failed one.
	retryInterval = time.Second
	// defaultKeySetTTL is how long a key set is fresh when the response says nothing.
	defaultKeySetTTL = 5 * time.Minute
)

// ErrInvalidToken is returned for any token that does not verify: malformed,
// badly signed, expired, not yet valid, from another issuer or with an
// unknown key. Its details are wrapped for logs, never shown to callers.
var ErrInvalidToken = fmt.Errorf("invalid token: %w", errkind.Unauthenticated)

// ErrKeysUnavailable is returned when the key set needed to verify a token
// cannot be fetched; the caller may retry.
var ErrKeysUnavailable = fmt.Errorf("verification keys unavailable: %w", errkind.Unavailable)

// Verifier checks a compact JWS and returns the claims it carries.
type Verifier interface {
	Verify(ctx context.Context, token string) (Claims, error)
}

// keyFinder returns the public key with the given kid.
type keyFinder func(ctx context.Context, kid string) (ed25519.PublicKey, error)

type verifier struct {
	issuer string
	key    keyFinder
	now    func() time.Time
}

// NewKeyVerifier returns a Verifier that trusts one public key: the issuer's
// own, so it verifies without fetching its JWKS over the network.
func NewKeyVerifier(pub ed25519.PublicKey, issuer string) Verifier {
	kid, err := Thumbprint(pub)
	if err != nil {
		panic(fmt.Sprintf("auth: thumbprint: %v", err))
	}
	find := func(_ context.Context, got string) (ed25519.PublicKey, error) {
		if got != kid {
			return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, got)
		}
		return pub, nil
	}
	return &verifier{issuer: issuer, key: find, now: time.Now}
}

func (v *verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > maxTokenBytes {
		return Claims{}, fmt.Errorf("%w: %d bytes", ErrInvalidToken, len(token))
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return Claims{}, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	pub, err := v.key(ctx, parsed.Headers[0].KeyID)
	if err != nil {
		return Claims{}, err
	}
	var registered jwt.Claims
	var custom tokenClaims
	if err := parsed.Claims(pub, &registered, &custom); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if registered.Expiry == nil {
		return Claims{}, fmt.Errorf("%w: no exp", ErrInvalidToken)
	}
	expected := jwt.Expected{Issuer: v.issuer, Time: v.now()}
	if err := registered.ValidateWithLeeway(expected, leeway); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if registered.Subject == "" || !custom.Role.Valid() {
		return Claims{}, fmt.Errorf("%w: no subject or unknown role %q", ErrInvalidToken, custom.Role)
	}
	return Claims{
		Subject:   registered.Subject,
		Email:     custom.Email,
		Role:      custom.Role,
		ExpiresAt: registered.Expiry.Time(),
	}, nil
}

// NewJWKSVerifier returns a Verifier that trusts the key set served at url.
// It fetches the set on first use, caches it for the response's max-age,
// and refetches early when a token names an unknown kid (key rotation), at
// most once every 30 seconds. A nil client means http.DefaultClient.
func NewJWKSVerifier(url, issuer string, client *http.Client) Verifier {
	return newJWKSVerifier(url, issuer, client, time.Now)
}

func newJWKSVerifier(url, issuer string, client *http.Client, now func() time.Time) *verifier {
	if client == nil {
		client = http.DefaultClient
	}
	ks := &keySet{url: url, client: client, now: now}
	return &verifier{issuer: issuer, key: ks.find, now: now}
}

// keySet is the cached JWKS of one issuer.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	fetchMu sync.Mutex // one fetch at a time; the others wait and reuse its result

	mu          sync.RWMutex
	keys        map[string]ed25519.PublicKey // the last set fetched successfully
	fetchedAt   time.Time                    // when keys was fetched
	ttl         time.Duration                // how long keys is fresh
	attemptedAt time.Time                    // the last fetch, successful or not
	failed      bool                         // whether that fetch failed
	fetches     int                          // attempts so far
}

func (s *keySet) find(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if pub, ok := s.fresh(kid); ok {
		return pub, nil
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if pub, ok := s.fresh(kid); ok { // fetched by another caller meanwhile
		return pub, nil
	}
	var fetchErr error
	if s.mayFetch() {
		fetchErr = s.fetch(ctx)
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	// A stale set still verifies the tokens of the keys it holds while the
	// issuer cannot be reached or the refetch is rate limited.
	if pub, ok := s.keys[kid]; ok {
		return pub, nil
	}
	if s.failed {
		if fetchErr == nil {
			fetchErr = errors.New("last fetch failed")
		}
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, fetchErr)
	}
	return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
}

// fresh returns the key when the cached set holds it and has not expired.
func (s *keySet) fresh(kid string) (ed25519.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.now().Sub(s.fetchedAt) >= s.ttl {
		return nil, false
	}
	pub, ok := s.keys[kid]
	return pub, ok
}

func (s *keySet) mayFetch() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fetches == 0 {
		return true
	}
	since := s.now().Sub(s.attemptedAt)
	if s.failed {
		return since >= retryInterval
	}
	return since >= refetchInterval
}

func (s *keySet) fetch(ctx context.Context) error {
	keys, ttl, err := s.get(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	s.attemptedAt = s.now()
	s.failed = err != nil
	if err != nil {
		return err
	}
	s.keys, s.ttl, s.fetchedAt = keys, ttl, s.attemptedAt
	return nil
}

func (s *keySet) get(ctx context.Context) (map[string]ed25519.PublicKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch key set: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch key set: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetch key set %s: %s", s.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read key set: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, errors.New("key set larger than 1 MiB")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("decode key set: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok || (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != string(jose.EdDSA)) {
			continue
		}
		kid := k.KeyID
		if kid == "" {
			if kid, err = Thumbprint(pub); err != nil {
				continue
			}
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, 0, errors.New("key set has no Ed25519 signing key")
	}
	return keys, maxAge(resp.Header.Get("Cache-Control")), nil
}

// maxAge reads max-age from a Cache-Control header, bounded to at least the
// refetch interval so a misconfigured issuer cannot make every call fetch.
func maxAge(header string) time.Duration {
	for directive := range strings.SplitSeq(header, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(directive), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.Atoi(strings.Trim(value, `"`))
		if err != nil {
			break
		}
		return max(time.Duration(secs)*time.Second, refetchInterval)
	}
	return defaultKeySetTTL
}
