// Package ratelimit limits how often each key (a user, a client) may do
// something, with the generic cell rate algorithm (GCRA): a key may make
// Burst requests at once and then one every 1/Rate seconds. Memory keeps
// the state per process; Redis shares it between instances with
// redis_rate's atomic script and falls back to a Memory while Redis does
// not answer.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// Limit is a sustained rate with a burst.
type Limit struct {
	// Rate is how many requests a key may make per second, sustained.
	Rate float64
	// Burst is how many requests a key may make at once (at least 1).
	Burst int
}

// interval is the time one request costs: 1/Rate.
func (l Limit) interval() time.Duration {
	return time.Duration(math.Round(float64(time.Second) / l.Rate))
}

// Validate reports a limit that cannot be enforced.
func (l Limit) Validate() error {
	if l.Rate <= 0 || math.IsInf(l.Rate, 0) || math.IsNaN(l.Rate) || l.interval() < time.Microsecond {
		return fmt.Errorf("rate limit: rate %v per second: want a positive number of at most 1e6", l.Rate)
	}
	if l.Burst < 1 {
		return fmt.Errorf("rate limit: burst %d: want at least 1", l.Burst)
	}
	return nil
}

// Decision is the answer to one request.
type Decision struct {
	// Allowed reports whether the request may go ahead.
	Allowed bool
	// RetryAfter is, when not allowed, how long until the key may make a
	// request again.
	RetryAfter time.Duration
}

// Limiter decides whether a key may make one more request now. Allow never
// fails: a limiter whose shared state is unreachable decides locally.
type Limiter interface {
	Allow(ctx context.Context, key string) Decision
	// Refund gives back one request that Allow let through, for a request
	// that turned out not to count (a login whose password was right). The
	// key never gets more than its burst back.
	Refund(ctx context.Context, key string)
}

// Open returns the limiter named name enforcing l: in memory when redisURL
// is empty, else in Redis (keys "rate:slipway:ratelimit:<name>:<key>",
// redis_rate's prefix first) with an in-memory fallback. The func releases it. Decisions are counted in
// slipway_ratelimit_decisions_total{limiter=name}.
func Open(redisURL, name string, l Limit, logger *slog.Logger, reg prometheus.Registerer) (Limiter, func(), error) {
	if err := l.Validate(); err != nil {
		return nil, nil, err
	}
	decisions, err := decisionsCounter(reg)
	if err != nil {
		return nil, nil, err
	}
	counted := func(lim Limiter) Limiter {
		return countedLimiter{lim: lim, allowed: decisions.WithLabelValues(name, "allowed"), limited: decisions.WithLabelValues(name, "limited")}
	}
	if redisURL == "" {
		logger.Info("rate limit in memory", "limiter", name, "rate", l.Rate, "burst", l.Burst)
		return counted(NewMemory(l)), func() {}, nil
	}
	conn, closeConn, err := redisconn.Open(redisURL, "ratelimit-"+name, logger, reg)
	if err != nil {
		return nil, nil, err
	}
	logger.Info("rate limit in redis", "limiter", name, "rate", l.Rate, "burst", l.Burst, "addr", conn.Client().Options().Addr)
	return counted(NewRedis(conn, "slipway:ratelimit:"+name+":", l)), closeConn, nil
}

func decisionsCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_ratelimit_decisions_total",
		Help: "Rate limit decisions by limiter and result: allowed or limited.",
	}, []string{"limiter", "result"})
	c, err := telemetry.Register(reg, c)
	if err != nil {
		return nil, fmt.Errorf("register rate limit metrics: %w", err)
	}
	return c, nil
}

type countedLimiter struct {
	lim              Limiter
	allowed, limited prometheus.Counter
}

func (c countedLimiter) Refund(ctx context.Context, key string) { c.lim.Refund(ctx, key) }

func (c countedLimiter) Allow(ctx context.Context, key string) Decision {
	d := c.lim.Allow(ctx, key)
	if d.Allowed {
		c.allowed.Inc()
	} else {
		c.limited.Inc()
	}
	return d
}
