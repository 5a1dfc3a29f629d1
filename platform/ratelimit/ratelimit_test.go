package ratelimit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
	"github.com/slipway-dev/slipway/platform/cache/redistest"
	"github.com/slipway-dev/slipway/platform/ratelimit"
)

// slow is a limit whose refill a test never waits for: one request per
// minute after a burst of 3.
var slow = ratelimit.Limit{Rate: 1.0 / 60, Burst: 3}

func limiters() map[string]func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
	return map[string]func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter{
		"memory": func(_ *testing.T, l ratelimit.Limit) ratelimit.Limiter { return ratelimit.NewMemory(l) },
		"redis": func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
			url, prefix := rateURL(t)
			conn, closeConn, err := redisconn.Open(url, "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			require.NoError(t, err)
			t.Cleanup(closeConn)
			return ratelimit.NewRedis(conn, prefix, l)
		},
	}
}

func TestLimiter(t *testing.T) {
	for name, newLimiter := range limiters() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()

			t.Run("allows the burst then limits with the wait for one token", func(t *testing.T) {
				lim := newLimiter(t, slow)
				for i := range slow.Burst {
					assert.True(t, lim.Allow(ctx, "alice").Allowed, "request %d of the burst", i+1)
				}
				d := lim.Allow(ctx, "alice")
				require.False(t, d.Allowed)
				// One token is a minute; a little of it has passed since the burst.
				assert.Greater(t, d.RetryAfter, 50*time.Second)
				assert.LessOrEqual(t, d.RetryAfter, time.Minute)
			})

			t.Run("a refused request costs nothing", func(t *testing.T) {
				lim := newLimiter(t, ratelimit.Limit{Rate: 1.0 / 60, Burst: 1})
				require.True(t, lim.Allow(ctx, "alice").Allowed)
				first := lim.Allow(ctx, "alice")
				second := lim.Allow(ctx, "alice")
				require.False(t, first.Allowed)
				require.False(t, second.Allowed)
				assert.LessOrEqual(t, second.RetryAfter, first.RetryAfter, "refusals do not push the wait out")
			})

			t.Run("a refund gives one request back, never more than the burst", func(t *testing.T) {
				lim := newLimiter(t, ratelimit.Limit{Rate: 1.0 / 60, Burst: 2})
				lim.Refund(ctx, "alice") // nothing spent: nothing to give back
				require.True(t, lim.Allow(ctx, "alice").Allowed)
				require.True(t, lim.Allow(ctx, "alice").Allowed)
				require.False(t, lim.Allow(ctx, "alice").Allowed)
				lim.Refund(ctx, "alice")
				assert.True(t, lim.Allow(ctx, "alice").Allowed, "the refunded request")
				assert.False(t, lim.Allow(ctx, "alice").Allowed)
				lim.Refund(ctx, "alice")
				lim.Refund(ctx, "alice")
				lim.Refund(ctx, "alice")
				assert.True(t, lim.Allow(ctx, "alice").Allowed)
				assert.True(t, lim.Allow(ctx, "alice").Allowed)
				assert.False(t, lim.Allow(ctx, "alice").Allowed, "refunds stop at a full burst")
			})

			t.Run("keys are independent", func(t *testing.T) {
				lim := newLimiter(t, ratelimit.Limit{Rate: 1.0 / 60, Burst: 1})
				require.True(t, lim.Allow(ctx, "alice").Allowed)
				require.False(t, lim.Allow(ctx, "alice").Allowed)
				assert.True(t, lim.Allow(ctx, "bob").Allowed)
			})

			t.Run("tokens come back at the rate", func(t *testing.T) {
				lim := newLimiter(t, ratelimit.Limit{Rate: 50, Burst: 1}) // one per 20ms
				require.True(t, lim.Allow(ctx, "alice").Allowed)
				d := lim.Allow(ctx, "alice")
				require.False(t, d.Allowed)
				assert.LessOrEqual(t, d.RetryAfter, 20*time.Millisecond)
				require.Eventually(t, func() bool { return lim.Allow(ctx, "alice").Allowed }, 30*time.Second, 5*time.Millisecond)
			})

			t.Run("concurrent requests never exceed the burst", func(t *testing.T) {
				lim := newLimiter(t, ratelimit.Limit{Rate: 1.0 / 60, Burst: 5})
				var (
					wg      sync.WaitGroup
					mu      sync.Mutex
					allowed int
				)
				for range 20 {
					wg.Go(func() {
						if lim.Allow(ctx, "alice").Allowed {
							mu.Lock()
							allowed++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				assert.Equal(t, 5, allowed)
			})
		})
	}
}

// rateURL is redistest.URL for limiters: redis_rate puts "rate:" before
// the test's prefix, so those keys are deleted here when the test ends.
func rateURL(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	redisURL, prefix = redistest.URL(t)
	opt, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	t.Cleanup(func() {
		defer func() { _ = c.Close() }()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "rate:"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			_ = c.Del(ctx, iter.Val()).Err()
		}
	})
	return redisURL, prefix
}

// Limiters in two processes sharing Redis share the limit.
func TestRedisLimitIsShared(t *testing.T) {
	url, prefix := rateURL(t)
	var lims []ratelimit.Limiter
	for range 2 {
		conn, closeConn, err := redisconn.Open(url, "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.NoError(t, err)
		t.Cleanup(closeConn)
		lims = append(lims, ratelimit.NewRedis(conn, prefix, ratelimit.Limit{Rate: 1.0 / 60, Burst: 2}))
	}
	ctx := t.Context()
	assert.True(t, lims[0].Allow(ctx, "alice").Allowed)
	assert.True(t, lims[1].Allow(ctx, "alice").Allowed)
	assert.False(t, lims[0].Allow(ctx, "alice").Allowed, "the other instance spent the burst")
}

// With Redis partitioned the limiter still limits, in memory, without
// calling Redis once it is skipped; when Redis is back it is used again.
func TestRedisLimiterFallsBackToMemoryWhenPartitioned(t *testing.T) {
	url, prefix := rateURL(t)
	proxy := redistest.NewProxy(t, url)
	conn, closeConn, err := redisconn.Open(proxy.URL(t, url), "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry(),
		redisconn.WithCooldown(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(closeConn)
	lim := ratelimit.NewRedis(conn, prefix, slow)
	ctx := t.Context()
	require.True(t, lim.Allow(ctx, "alice").Allowed, "through Redis")

	proxy.BlackHole()
	for i := range slow.Burst {
		assert.True(t, lim.Allow(ctx, "alice").Allowed, "request %d of the local burst", i+1)
	}
	d := lim.Allow(ctx, "alice")
	assert.False(t, d.Allowed, "the in-memory fallback limits")
	assert.Greater(t, d.RetryAfter, time.Duration(0))
	assert.True(t, conn.Degraded())

	proxy.Forward()
	require.Eventually(t, func() bool { return !conn.Degraded() }, 30*time.Second, 20*time.Millisecond)
	// Redis remembers the one request it saw: two more of the burst are left.
	assert.True(t, lim.Allow(ctx, "alice").Allowed)
	assert.True(t, lim.Allow(ctx, "alice").Allowed)
	assert.False(t, lim.Allow(ctx, "alice").Allowed)
}

// A Redis that refuses connections from the start costs no request: the
// limiter limits in memory, with its RetryAfter, and says so once in the
// log and in slipway_redis_up.
func TestRedisLimiterLimitsInMemoryWhenRedisRefuses(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close()) // nothing listens there now: connections are refused

	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	lim, closeLim, err := ratelimit.Open("redis://"+addr+"/0", "refused", slow, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	require.NoError(t, err)
	t.Cleanup(closeLim)
	for i := range slow.Burst {
		assert.True(t, lim.Allow(t.Context(), "alice").Allowed, "request %d of the local burst", i+1)
	}
	d := lim.Allow(t.Context(), "alice")
	assert.False(t, d.Allowed)
	assert.Greater(t, d.RetryAfter, 50*time.Second)
	assert.LessOrEqual(t, d.RetryAfter, time.Minute)

	assert.Equal(t, 1, strings.Count(logs.String(), "redis unavailable"), "one warning on the way down:\n%s", logs.String())
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP slipway_redis_up 1 while Redis answers, 0 while it is skipped after a failure (callers degrade to the database or memory).
# TYPE slipway_redis_up gauge
slipway_redis_up{client="ratelimit-refused"} 0
`), "slipway_redis_up"))
}

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		name    string
		limit   ratelimit.Limit
		wantErr string
	}{
		{name: "valid", limit: ratelimit.Limit{Rate: 10, Burst: 20}},
		{name: "zero rate", limit: ratelimit.Limit{Rate: 0, Burst: 1}, wantErr: "rate 0"},
		{name: "negative rate", limit: ratelimit.Limit{Rate: -1, Burst: 1}, wantErr: "rate -1"},
		{name: "rate beyond a microsecond a token", limit: ratelimit.Limit{Rate: 1e7, Burst: 1}, wantErr: "at most 1e6"},
		{name: "zero burst", limit: ratelimit.Limit{Rate: 1, Burst: 0}, wantErr: "burst 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limit.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// Open picks memory or Redis, counts decisions, and refuses a bad limit.
func TestOpen(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	url, _ := redistest.URL(t)
	for _, redisURL := range []string{"", url} {
		reg := prometheus.NewRegistry()
		name := "test-" + time.Now().Format("150405.000000000")
		lim, closeLim, err := ratelimit.Open(redisURL, name, ratelimit.Limit{Rate: 1.0 / 60, Burst: 1}, logger, reg)
		require.NoError(t, err)
		assert.True(t, lim.Allow(t.Context(), "alice").Allowed)
		assert.False(t, lim.Allow(t.Context(), "alice").Allowed)
		closeLim()
		want := fmt.Sprintf(`
# HELP slipway_ratelimit_decisions_total Rate limit decisions by limiter and result: allowed or limited.
# TYPE slipway_ratelimit_decisions_total counter
slipway_ratelimit_decisions_total{limiter=%q,result="allowed"} 1
slipway_ratelimit_decisions_total{limiter=%q,result="limited"} 1
`, name, name)
		assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "slipway_ratelimit_decisions_total"))
		if redisURL != "" {
			opt, err := redis.ParseURL(redisURL)
			require.NoError(t, err)
			c := redis.NewClient(opt)
			assert.Equal(t, int64(1), c.Del(t.Context(), "rate:slipway:ratelimit:"+name+":alice").Val(), "the state is where Open says")
			_ = c.Close()
		}
	}
	_, _, err := ratelimit.Open("", "x", ratelimit.Limit{}, logger, prometheus.NewRegistry())
	assert.Error(t, err)
}
