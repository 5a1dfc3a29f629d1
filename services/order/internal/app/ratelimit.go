package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/ratelimit"
	"github.com/slipway-dev/slipway/services/order/internal/config"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

// newOrderLimiter is the per-user limit on new orders: in memory, or in
// Redis when REDIS_URL is set (falling back to memory while Redis does not
// answer); nil when ORDER_RATE_LIMIT is 0.
func newOrderLimiter(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry) (domain.OrderLimiter, func(), error) {
	if cfg.OrderRateLimit == 0 {
		logger.Info("order rate limit off (ORDER_RATE_LIMIT=0)")
		return nil, func() {}, nil
	}
	lim, closeLimiter, err := ratelimit.Open(cfg.RedisURL, "orders",
		ratelimit.Limit{Rate: cfg.OrderRateLimit, Burst: cfg.OrderRateBurst}, logger, reg)
	if err != nil {
		return nil, nil, err
	}
	return orderLimiter{lim}, closeLimiter, nil
}

// orderLimiter is the domain's OrderLimiter over a platform limiter.
type orderLimiter struct{ lim ratelimit.Limiter }

func (o orderLimiter) Allow(ctx context.Context, userID string) (bool, time.Duration) {
	d := o.lim.Allow(ctx, userID)
	return d.Allowed, d.RetryAfter
}
