package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
)

// Policy is how Backoff slows a key down after failures: the n-th failure
// in a row makes the key wait Base·2^(n-1), never more than Max, before its
// next attempt.
type Policy struct {
	Base time.Duration
	Max  time.Duration
}

// Validate reports a policy that cannot be enforced.
func (p Policy) Validate() error {
	if p.Base < time.Millisecond {
		return fmt.Errorf("backoff: base %s: want at least 1ms", p.Base)
	}
	if p.Max < p.Base {
		return fmt.Errorf("backoff: max %s: want at least the base %s", p.Max, p.Base)
	}
	return nil
}

// wait is the delay after the n-th failure in a row (n >= 1).
func (p Policy) wait(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Backoff counts the failures in a row of each key and makes the key wait
// longer after each one; a success forgets them. A key that made no attempt
// for Max after its wait ended is forgotten too, so an old streak does not
// follow a user for ever. Its methods never fail: one whose shared state is
// unreachable keeps the state locally.
type Backoff interface {
	// Wait is how long key must still wait before its next attempt; 0 means
	// it may go now.
	Wait(ctx context.Context, key string) time.Duration
	// Failed records a failed attempt and returns the wait it imposes.
	Failed(ctx context.Context, key string) time.Duration
	// Succeeded forgets the key's failures.
	Succeeded(ctx context.Context, key string)
}

type streak struct {
	failures int
	until    time.Time // no attempt before
}

// MemoryBackoff is a Backoff in process memory; keys whose streak is
// forgotten are dropped. It is safe for concurrent use.
type MemoryBackoff struct {
	policy Policy
	now    func() time.Time

	mu      sync.Mutex
	streaks map[string]streak
	sweepAt int
}

// NewMemoryBackoff returns an in-memory Backoff with p, which must be valid
// (Policy.Validate).
func NewMemoryBackoff(p Policy) *MemoryBackoff {
	return &MemoryBackoff{policy: p, now: time.Now, streaks: make(map[string]streak), sweepAt: minSweep}
}

// Wait implements Backoff.
func (b *MemoryBackoff) Wait(_ context.Context, key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.streaks[key]
	if !ok {
		return 0
	}
	return max(s.until.Sub(b.now()), 0)
}

// Failed implements Backoff.
func (b *MemoryBackoff) Failed(_ context.Context, key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if len(b.streaks) >= b.sweepAt {
		b.sweep(now)
	}
	s := b.streaks[key]
	if b.forgotten(s, now) {
		s = streak{}
	}
	s.failures = min(s.failures+1, maxStreak)
	wait := b.policy.wait(s.failures)
	s.until = now.Add(wait)
	b.streaks[key] = s
	return wait
}

// Succeeded implements Backoff.
func (b *MemoryBackoff) Succeeded(_ context.Context, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.streaks, key)
}

func (b *MemoryBackoff) forgotten(s streak, now time.Time) bool {
	return s.failures == 0 || now.Sub(s.until) >= b.policy.Max
}

func (b *MemoryBackoff) sweep(now time.Time) {
	for k, s := range b.streaks {
		if b.forgotten(s, now) {
			delete(b.streaks, k)
		}
	}
	b.sweepAt = max(2*len(b.streaks), minSweep)
}

// maxStreak bounds the failure count: the wait reached Max long before.
const maxStreak = 64

// failed is Backoff.Failed, atomic in Redis with Redis' clock. The key is
// a hash {n: failures in a row, until: no attempt before, in µs} that
// expires Max after until, which is when the streak is forgotten.
//
// KEYS[1] the key; ARGV[1] the base and ARGV[2] the max in µs; ARGV[3]
// maxStreak. Returns the wait in µs.
var failed = redis.NewScript(`
local base = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0') + 1
if n > tonumber(ARGV[3]) then n = tonumber(ARGV[3]) end
local wait = base * 2 ^ (n - 1)
if wait > cap then wait = cap end
redis.call('HSET', KEYS[1], 'n', n, 'until', string.format('%.0f', now + wait))
redis.call('PEXPIRE', KEYS[1], math.ceil((wait + cap) / 1000))
return wait
`)

// waitFor is Backoff.Wait in Redis. KEYS[1] the key. Returns the wait in µs.
var waitFor = redis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'until')
if not u then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local d = tonumber(u) - now
if d < 0 then return 0 end
return d
`)

// RedisBackoff is a Backoff whose state is in Redis, shared by every
// instance; while Redis does not answer it uses a MemoryBackoff.
type RedisBackoff struct {
	conn     *redisconn.Conn
	prefix   string
	policy   Policy
	fallback *MemoryBackoff
}

// NewRedisBackoff returns the Backoff with p on keys under prefix; p must
// be valid (Policy.Validate).
func NewRedisBackoff(conn *redisconn.Conn, prefix string, p Policy) *RedisBackoff {
	return &RedisBackoff{conn: conn, prefix: prefix, policy: p, fallback: NewMemoryBackoff(p)}
}

// Wait implements Backoff.
func (b *RedisBackoff) Wait(ctx context.Context, key string) time.Duration {
	var us int64
	err := b.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		var err error
		us, err = waitFor.Run(ctx, c, []string{b.prefix + key}).Int64()
		return err
	})
	if err != nil {
		return b.fallback.Wait(ctx, key)
	}
	return time.Duration(us) * time.Microsecond
}

// Failed implements Backoff.
func (b *RedisBackoff) Failed(ctx context.Context, key string) time.Duration {
	var us int64
	err := b.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		var err error
		us, err = failed.Run(ctx, c, []string{b.prefix + key},
			b.policy.Base.Microseconds(), b.policy.Max.Microseconds(), maxStreak).Int64()
		return err
	})
	if err != nil {
		return b.fallback.Failed(ctx, key)
	}
	return time.Duration(us) * time.Microsecond
}

// Succeeded implements Backoff; it forgets the key in both places, so a
// streak kept locally during an outage does not outlive a success.
func (b *RedisBackoff) Succeeded(ctx context.Context, key string) {
	_ = b.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		return c.Del(ctx, b.prefix+key).Err()
	})
	b.fallback.Succeeded(ctx, key)
}

// OpenBackoff returns the Backoff named name with p: in memory when
// redisURL is empty, else in Redis (keys "slipway:backoff:<name>:<key>")
// with an in-memory fallback. The func releases it. Waits are counted in
// slipway_ratelimit_decisions_total{limiter=name}: "limited" when a key
// had to wait.
func OpenBackoff(redisURL, name string, p Policy, logger *slog.Logger, reg prometheus.Registerer) (Backoff, func(), error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	decisions, err := decisionsCounter(reg)
	if err != nil {
		return nil, nil, err
	}
	counted := func(b Backoff) Backoff {
		return countedBackoff{Backoff: b, allowed: decisions.WithLabelValues(name, "allowed"), limited: decisions.WithLabelValues(name, "limited")}
	}
	if redisURL == "" {
		logger.Info("failure backoff in memory", "limiter", name, "base", p.Base, "max", p.Max)
		return counted(NewMemoryBackoff(p)), func() {}, nil
	}
	conn, closeConn, err := redisconn.Open(redisURL, "backoff-"+name, logger, reg)
	if err != nil {
		return nil, nil, err
	}
	logger.Info("failure backoff in redis", "limiter", name, "base", p.Base, "max", p.Max, "addr", conn.Client().Options().Addr)
	return counted(NewRedisBackoff(conn, "slipway:backoff:"+name+":", p)), closeConn, nil
}

type countedBackoff struct {
	Backoff
	allowed, limited prometheus.Counter
}

func (c countedBackoff) Wait(ctx context.Context, key string) time.Duration {
	d := c.Backoff.Wait(ctx, key)
	if d > 0 {
		c.limited.Inc()
	} else {
		c.allowed.Inc()
	}
	return d
}
