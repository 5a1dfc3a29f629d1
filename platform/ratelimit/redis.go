package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
)

// gcra is one GCRA decision, atomic in Redis. The clock is Redis' own
// (TIME), so instances with skewed clocks share one notion of now. The key
// holds the TAT in microseconds and expires when it is reached.
//
// KEYS[1] the key; ARGV[1] the interval in µs; ARGV[2] the burst.
// Returns {1, 0} when allowed, {0, retry after in µs} when not.
var gcra = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + interval
local allow_at = next - burst * interval
if now < allow_at then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return {1, 0}
`)

// refund gives one interval back to a key, never more than a full burst
// (a key at now is a full burst, which is no key).
//
// KEYS[1] the key; ARGV[1] the interval in µs.
var refund = redis.NewScript(`
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
tat = tat - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return 1
`)

// Redis is a Limiter whose state is in Redis, shared by every instance.
// While Redis does not answer it decides with a Memory of the same limit,
// so each instance then enforces the limit on its own.
type Redis struct {
	conn     *redisconn.Conn
	prefix   string
	limit    Limit
	fallback *Memory
}

// NewRedis returns the limiter enforcing l on keys under prefix; l must be
// valid (Limit.Validate).
func NewRedis(conn *redisconn.Conn, prefix string, l Limit) *Redis {
	return &Redis{conn: conn, prefix: prefix, limit: l, fallback: NewMemory(l)}
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
		return refund.Run(ctx, c, []string{r.prefix + key}, r.limit.interval().Microseconds()).Err()
	})
	if err != nil {
		r.fallback.Refund(ctx, key)
	}
}

func (r *Redis) allow(ctx context.Context, key string) (Decision, error) {
	var res []int64
	err := r.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		var err error
		res, err = gcra.Run(ctx, c, []string{r.prefix + key},
			r.limit.interval().Microseconds(), r.limit.Burst).Int64Slice()
		return err
	})
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 2 {
		return Decision{}, errors.New("rate limit script: want two numbers")
	}
	if res[0] == 1 {
		return Decision{Allowed: true}, nil
	}
	if res[1] <= 0 {
		return Decision{}, fmt.Errorf("rate limit script: retry after %dµs", res[1])
	}
	return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond}, nil
}
