package ratelimit_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
	"github.com/slipway-dev/slipway/platform/cache/redistest"
	"github.com/slipway-dev/slipway/platform/ratelimit"
)

func backoffs() map[string]func(t *testing.T, p ratelimit.Policy) ratelimit.Backoff {
	return map[string]func(t *testing.T, p ratelimit.Policy) ratelimit.Backoff{
		"memory": func(_ *testing.T, p ratelimit.Policy) ratelimit.Backoff { return ratelimit.NewMemoryBackoff(p) },
		"redis": func(t *testing.T, p ratelimit.Policy) ratelimit.Backoff {
			url, prefix := redistest.URL(t)
			conn, closeConn, err := redisconn.Open(url, "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			require.NoError(t, err)
			t.Cleanup(closeConn)
			return ratelimit.NewRedisBackoff(conn, prefix, p)
		},
	}
}

func TestBackoff(t *testing.T) {
	long := ratelimit.Policy{Base: time.Second, Max: time.Minute}
	for name, newBackoff := range backoffs() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()

			t.Run("each failure in a row doubles the wait, up to the max", func(t *testing.T) {
				b := newBackoff(t, long)
				assert.Zero(t, b.Wait(ctx, "alice"), "no failure yet")
				want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
				for i, w := range want {
					assert.Equal(t, w*time.Second, b.Failed(ctx, "alice"), "failure %d", i+1)
				}
				wait := b.Wait(ctx, "alice")
				assert.Greater(t, wait, 59*time.Second)
				assert.LessOrEqual(t, wait, time.Minute)
				assert.Zero(t, b.Wait(ctx, "bob"), "keys are independent")
			})

			t.Run("a success forgets the failures", func(t *testing.T) {
				b := newBackoff(t, long)
				b.Failed(ctx, "alice")
				b.Failed(ctx, "alice")
				require.Greater(t, b.Wait(ctx, "alice"), time.Second)
				b.Succeeded(ctx, "alice")
				assert.Zero(t, b.Wait(ctx, "alice"))
				assert.Equal(t, time.Second, b.Failed(ctx, "alice"), "the next failure starts a new streak")
			})

			t.Run("the wait ends and a quiet key is forgotten", func(t *testing.T) {
				b := newBackoff(t, ratelimit.Policy{Base: 20 * time.Millisecond, Max: 40 * time.Millisecond})
				assert.Equal(t, 20*time.Millisecond, b.Failed(ctx, "alice"))
				assert.Equal(t, 40*time.Millisecond, b.Failed(ctx, "alice"))
				require.Eventually(t, func() bool { return b.Wait(ctx, "alice") == 0 }, 5*time.Second, 5*time.Millisecond)
				time.Sleep(60 * time.Millisecond) // the max again, without an attempt
				assert.Equal(t, 20*time.Millisecond, b.Failed(ctx, "alice"), "the old streak is forgotten")
			})
		})
	}
}

// With Redis partitioned the backoff keeps slowing keys down, in memory.
func TestRedisBackoffFallsBackToMemoryWhenPartitioned(t *testing.T) {
	url, prefix := redistest.URL(t)
	proxy := redistest.NewProxy(t, url)
	conn, closeConn, err := redisconn.Open(proxy.URL(t, url), "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry(),
		redisconn.WithCooldown(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(closeConn)
	b := ratelimit.NewRedisBackoff(conn, prefix, ratelimit.Policy{Base: time.Second, Max: time.Minute})
	ctx := t.Context()

	proxy.BlackHole()
	assert.Equal(t, time.Second, b.Failed(ctx, "alice"))
	assert.Greater(t, b.Wait(ctx, "alice"), 900*time.Millisecond, "the in-memory fallback remembers the failure")
	assert.True(t, conn.Degraded())
}

func TestPolicyValidate(t *testing.T) {
	assert.NoError(t, ratelimit.Policy{Base: time.Second, Max: time.Minute}.Validate())
	assert.ErrorContains(t, ratelimit.Policy{Base: 0, Max: time.Minute}.Validate(), "base 0s")
	assert.ErrorContains(t, ratelimit.Policy{Base: time.Second, Max: time.Millisecond}.Validate(), "max 1ms")
}

// OpenBackoff picks memory or Redis and counts the waits it imposes.
func TestOpenBackoff(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	url, _ := redistest.URL(t)
	for _, redisURL := range []string{"", url} {
		name := "test-" + time.Now().Format("150405.000000000")
		b, closeBackoff, err := ratelimit.OpenBackoff(redisURL, name, ratelimit.Policy{Base: time.Second, Max: time.Minute}, logger, prometheus.NewRegistry())
		require.NoError(t, err)
		assert.Zero(t, b.Wait(t.Context(), "alice"))
		b.Failed(t.Context(), "alice")
		assert.Positive(t, b.Wait(t.Context(), "alice"))
		b.Succeeded(t.Context(), "alice")
		closeBackoff()
	}
	_, _, err := ratelimit.OpenBackoff("", "x", ratelimit.Policy{}, logger, prometheus.NewRegistry())
	assert.Error(t, err)
}
