package ratelimit_test

import (
	"log/slog"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
	"github.com/slipway-dev/slipway/platform/ratelimit"
)

// BenchmarkRedisAllow is one decision in Redis: a round trip and the
// script, on keys that are allowed (a fresh key each time) and on one
// key past its burst (refused, with its RetryAfter).
func BenchmarkRedisAllow(b *testing.B) {
	url, prefix := rateURL(b)
	conn, closeConn, err := redisconn.Open(url, "bench", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	b.Cleanup(closeConn)
	lim := ratelimit.NewRedis(conn, prefix, ratelimit.Limit{Rate: 1.0 / 60, Burst: 1})
	ctx := b.Context()

	b.Run("allowed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if !lim.Allow(ctx, "allowed-"+strconv.Itoa(i)).Allowed {
				b.Fatal("a fresh key was refused")
			}
		}
	})
	b.Run("refused", func(b *testing.B) {
		lim.Allow(ctx, "refused")
		for b.Loop() {
			if lim.Allow(ctx, "refused").Allowed {
				b.Fatal("a key past its burst was allowed")
			}
		}
	})
	b.Run("refund", func(b *testing.B) {
		for b.Loop() {
			lim.Allow(ctx, "refund")
			lim.Refund(ctx, "refund")
		}
	})
}
