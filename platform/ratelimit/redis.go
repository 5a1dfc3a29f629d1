package ratelimit

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
)

// keyPrefix is what redis_rate puts before every key it keeps.
const keyPrefix = "rate:"

// refund gives one interval back to a key that redis_rate keeps, never more
// than a full burst (a key at now is a full burst, which is no key).
// redis_rate has no refund, and AllowN with a cost of -1 is not one: it
// stores nothing when the key's debt is under one interval, so the request
// is never given back. The value is redis_rate's: the theoretical arrival
// time (TAT) in seconds since 2017-01-01, on Redis' own clock.
//
// KEYS[1] the key; ARGV[1] the interval in seconds.
var refund = redis.NewScript(`
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = (t[1] - 1483228800) + t[2] / 1000000
tat = tat - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], tat, 'EX', math.ceil(tat - now))
return 1
`)

// Redis is a Limiter whose state is in Redis, shared by every instance:
// redis_rate's GCRA, one Lua script on Redis' own clock (TIME), so
// instances with skewed clocks share one notion of now. While Redis does
// not answer it decides with a Memory of the same limit, so each instance
// then enforces the limit on its own.
type Redis struct {
	conn     *redisconn.Conn
	prefix   string
	limit    redis_rate.Limit
	fallback *Memory
}

// NewRedis returns the limiter enforcing l on the keys "rate:<prefix><key>";
// l must be valid (Limit.Validate).
func NewRedis(conn *redisconn.Conn, prefix string, l Limit) *Redis {
	// One request per interval is l.Rate per second, with l's fractional
	// rates (one per minute is 1/60) kept exact.
	limit := redis_rate.Limit{Rate: 1, Period: l.interval(), Burst: l.Burst}
	return &Redis{conn: conn, prefix: prefix, limit: limit, fallback: NewMemory(l)}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string) Decision {
	d, err := r.allow(ctx, key)
	if err != nil {
		return r.fallback.Allow(ctx, key)
	}
	return d
}

// Refund implements Limiter. While Redis does not answer it refunds the
// in-memory fallback, which is what Allow used meanwhile.
func (r *Redis) Refund(ctx context.Context, key string) {
	err := r.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		return refund.Run(ctx, c, []string{keyPrefix + r.prefix + key}, r.limit.Period.Seconds()).Err()
	})
	if err != nil {
		r.fallback.Refund(ctx, key)
	}
}

func (r *Redis) allow(ctx context.Context, key string) (Decision, error) {
	var res *redis_rate.Result
	err := r.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		var err error
		res, err = redis_rate.NewLimiter(c).Allow(ctx, r.prefix+key, r.limit)
		return err
	})
	if err != nil {
		return Decision{}, err
	}
	if res.Allowed > 0 {
		return Decision{Allowed: true}, nil
	}
	if res.RetryAfter <= 0 {
		return Decision{}, fmt.Errorf("rate limit: redis_rate refused with retry after %s", res.RetryAfter)
	}
	return Decision{RetryAfter: res.RetryAfter}, nil
}
