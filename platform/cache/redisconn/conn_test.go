package redisconn_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
	"github.com/slipway-dev/slipway/platform/cache/redistest"
	"github.com/slipway-dev/slipway/platform/telemetry/logtest"
)

func open(t *testing.T, url string) (*redisconn.Conn, *prometheus.Registry, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	reg := prometheus.NewRegistry()
	c, closeConn, err := redisconn.Open(url, "test", slog.New(slog.NewTextHandler(logs, nil)), reg,
		redisconn.WithCooldown(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(closeConn)
	return c, reg, logs
}

func set(key string) func(context.Context, *redis.Client) error {
	return func(ctx context.Context, c *redis.Client) error { return c.Set(ctx, key, "v", time.Minute).Err() }
}

func TestOpenRejectsABadURL(t *testing.T) {
	_, _, err := redisconn.Open("http://127.0.0.1:6379", "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redis url")
}

// A Redis that answers is used, and a reply that is an error (a missing
// key, a wrong type) is Redis answering, not Redis gone.
func TestDoUsesRedisAndRepliesKeepItUp(t *testing.T) {
	url, prefix := redistest.URL(t)
	c, reg, _ := open(t, url)
	ctx := t.Context()

	require.NoError(t, c.Do(ctx, set(prefix+"k")))
	err := c.Do(ctx, func(ctx context.Context, r *redis.Client) error { return r.Get(ctx, prefix+"missing").Err() })
	require.ErrorIs(t, err, redis.Nil)
	err = c.Do(ctx, func(ctx context.Context, r *redis.Client) error { return r.LPush(ctx, prefix+"k", "x").Err() })
	require.Error(t, err, "LPUSH on a string is WRONGTYPE")

	assert.False(t, c.Degraded())
	assert.Equal(t, 1.0, testutil.ToFloat64(reg), "slipway_redis_up")
}

// A partitioned Redis (connections accepted, never answered) costs one
// timeout; then Redis is skipped without being called, logged once, until
// it answers again, which is logged once too.
func TestBlackHoledRedisIsSkippedUntilItAnswers(t *testing.T) {
	url, prefix := redistest.URL(t)
	proxy := redistest.NewProxy(t, url)
	c, reg, logs := open(t, proxy.URL(t, url))
	ctx := t.Context()
	require.NoError(t, c.Do(ctx, set(prefix+"k")), "through the proxy while it forwards")

	proxy.BlackHole()
	err := c.Do(ctx, set(prefix+"k"))
	require.Error(t, err, "the black hole times out")
	require.NotErrorIs(t, err, redisconn.ErrUnavailable, "the first failure is the real one")
	assert.True(t, c.Degraded())
	assert.Equal(t, 0.0, testutil.ToFloat64(reg), "slipway_redis_up")

	for range 5 {
		called := false
		err := c.Do(ctx, func(context.Context, *redis.Client) error { called = true; return nil })
		require.ErrorIs(t, err, redisconn.ErrUnavailable)
		assert.False(t, called, "a degraded Conn does not call Redis")
	}
	assert.Equal(t, 1, logs.Count("redis unavailable"), "the transition is logged once")

	proxy.Forward()
	require.Eventually(t, func() bool { return !c.Degraded() }, 30*time.Second, 20*time.Millisecond,
		"the probe finds Redis back")
	require.NoError(t, c.Do(ctx, set(prefix+"k")))
	assert.Equal(t, 1.0, testutil.ToFloat64(reg), "slipway_redis_up")
	assert.Equal(t, 1, logs.Count("redis answers again"), "the recovery is logged once")
}

// A Redis that refuses connections degrades the same way.
func TestRefusedRedisDegrades(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	c, _, _ := open(t, "redis://"+addr+"/0")
	err = c.Do(t.Context(), set("k"))
	require.Error(t, err)
	assert.True(t, c.Degraded())
	assert.ErrorIs(t, c.Do(t.Context(), set("k")), redisconn.ErrUnavailable)
}

// A caller that gives up is not Redis failing.
func TestCancelledCallerDoesNotDegrade(t *testing.T) {
	url, prefix := redistest.URL(t)
	c, _, _ := open(t, url)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Do(ctx, set(prefix+"k"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled))
	assert.False(t, c.Degraded())
}
