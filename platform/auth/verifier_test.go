package auth

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// issuer is an httptest JWKS endpoint whose signing key can be rotated.
type issuer struct {
	mu       sync.Mutex
	signer   *Signer
	down     bool
	requests atomic.Int32
	srv      *httptest.Server
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{signer: NewSigner(newKey(t), "slipway", time.Hour)}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.requests.Add(1)
		is.mu.Lock()
		s, down := is.signer, is.down
		is.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.JWKS().ServeHTTP(w, r)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) rotate(t *testing.T) *Signer {
	t.Helper()
	s := NewSigner(newKey(t), "slipway", time.Hour)
	is.mu.Lock()
	is.signer = s
	is.mu.Unlock()
	return s
}

func (is *issuer) setDown(down bool) {
	is.mu.Lock()
	is.down = down
	is.mu.Unlock()
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestJWKSVerifier(t *testing.T) {
	is := newIssuer(t)
	first := is.signer
	clk := &clock{now: time.Now()}
	v := newJWKSVerifier(is.srv.URL, "slipway", is.srv.Client(), clk.Now)
	ctx := t.Context()

	assert.EqualValues(t, 0, is.requests.Load(), "the key set is fetched lazily")

	got, err := v.Verify(ctx, sign(t, first, alice))
	require.NoError(t, err)
	assert.Equal(t, alice.Subject, got.Subject)
	assert.EqualValues(t, 1, is.requests.Load())

	_, err = v.Verify(ctx, sign(t, first, alice))
	require.NoError(t, err)
	assert.EqualValues(t, 1, is.requests.Load(), "a known kid is served from the cache")

	t.Run("rotation: an unknown kid triggers a refetch", func(t *testing.T) {
		second := is.rotate(t)
		clk.Advance(refetchInterval)

		got, err := v.Verify(ctx, sign(t, second, alice))
		require.NoError(t, err)
		assert.Equal(t, alice.Subject, got.Subject)
		assert.EqualValues(t, 2, is.requests.Load())

		_, err = v.Verify(ctx, sign(t, first, alice))
		assert.ErrorIs(t, err, ErrInvalidToken, "the retired key is no longer trusted")
	})

	t.Run("unknown kids refetch at most every 30s", func(t *testing.T) {
		stranger := NewSigner(newKey(t), "slipway", time.Hour)
		before := is.requests.Load()
		clk.Advance(refetchInterval)

		for range 5 {
			_, err := v.Verify(ctx, sign(t, stranger, alice))
			assert.ErrorIs(t, err, ErrInvalidToken)
		}
		assert.Equal(t, before+1, is.requests.Load())

		clk.Advance(refetchInterval - time.Second)
		_, err := v.Verify(ctx, sign(t, stranger, alice))
		assert.ErrorIs(t, err, ErrInvalidToken)
		assert.Equal(t, before+1, is.requests.Load())

		clk.Advance(time.Second)
		_, err = v.Verify(ctx, sign(t, stranger, alice))
		assert.ErrorIs(t, err, ErrInvalidToken)
		assert.Equal(t, before+2, is.requests.Load())
	})

	t.Run("an expired cache is refetched and a stale one survives an outage", func(t *testing.T) {
		current := is.signer
		before := is.requests.Load()
		clk.Advance(jwksMaxAge)
		is.setDown(true)

		_, err := v.Verify(ctx, sign(t, current, alice))
		require.NoError(t, err, "the stale key still verifies while the issuer is down")
		assert.Equal(t, before+1, is.requests.Load())

		is.setDown(false)
		clk.Advance(retryInterval)
		_, err = v.Verify(ctx, sign(t, current, alice))
		require.NoError(t, err)
		assert.Equal(t, before+2, is.requests.Load())
	})
}

func TestJWKSVerifierIssuerUnreachable(t *testing.T) {
	is := newIssuer(t)
	is.setDown(true)
	clk := &clock{now: time.Now()}
	v := newJWKSVerifier(is.srv.URL, "slipway", is.srv.Client(), clk.Now)

	_, err := v.Verify(t.Context(), sign(t, is.signer, alice))
	require.ErrorIs(t, err, ErrKeysUnavailable)
	assert.ErrorIs(t, err, errkind.Unavailable)

	// Once the issuer is back, a failed fetch is retried after a second, not 30.
	is.setDown(false)
	clk.Advance(retryInterval)
	_, err = v.Verify(t.Context(), sign(t, is.signer, alice))
	assert.NoError(t, err)
}

func TestJWKSVerifierConcurrentFirstUse(t *testing.T) {
	is := newIssuer(t)
	v := NewJWKSVerifier(is.srv.URL, "slipway", nil)
	token := sign(t, is.signer, alice)

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(t.Context(), token)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, is.requests.Load(), "concurrent callers share one fetch")
}

func TestMaxAge(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"public, max-age=300", 5 * time.Minute},
		{"max-age=3600", time.Hour},
		{"max-age=1", refetchInterval},
		{"no-cache", defaultKeySetTTL},
		{"max-age=soon", defaultKeySetTTL},
		{"", defaultKeySetTTL},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			assert.Equal(t, tt.want, maxAge(tt.header))
		})
	}
}
