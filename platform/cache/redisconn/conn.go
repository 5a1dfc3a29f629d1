// Package redisconn is the Redis connection that caches and rate limiters
// share: tight timeouts, no retries, and a breaker that stops calling Redis
// for a while after a failure, so an unreachable Redis costs at most one
// timeout, not one per request.
//
// While Redis is failing, Do returns ErrUnavailable at once and a background
// probe pings Redis every cooldown; the first answer closes the breaker. The
// transition to degraded is logged once (warn) and so is the recovery
// (info); slipway_redis_up{client} is 1 while Redis answers and 0 while it
// is skipped.
//
// A command sent for a traced request is a client span (redisotel) with
// db.system.name redis and server.address, a child of the request's span;
// the command's arguments stay out of it.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is returned by Do while Redis is being skipped after a
// failure. Callers degrade (a cache miss, the in-memory limiter).
var ErrUnavailable = errors.New("redis unavailable")

// Timeouts a request may spend on Redis. They bound the first failure of a
// partition; afterwards the breaker skips Redis altogether. Redis answers a
// GET or a short script in well under a millisecond, so these are generous.
const (
	DefaultDialTimeout  = 200 * time.Millisecond
	DefaultReadTimeout  = 100 * time.Millisecond
	DefaultWriteTimeout = 100 * time.Millisecond
	DefaultPoolTimeout  = 100 * time.Millisecond
	// DefaultCooldown is how long Redis is skipped after a failure before
	// the next probe.
	DefaultCooldown = time.Second
)

// Conn is a Redis client behind a breaker. It is safe for concurrent use.
type Conn struct {
	client   *redis.Client
	name     string
	logger   *slog.Logger
	cooldown time.Duration

	degraded atomic.Bool // read on every call: no lock

	mu      sync.Mutex // guards closed and starting the probe
	closed  bool
	stop    chan struct{}
	probing sync.WaitGroup
}

// Option configures Open.
type Option func(*redis.Options, *Conn)

// WithCooldown sets how long Redis is skipped after a failure (default 1s).
func WithCooldown(d time.Duration) Option {
	return func(_ *redis.Options, c *Conn) { c.cooldown = d }
}

// WithTimeouts replaces the dial and read/write timeouts.
func WithTimeouts(dial, readWrite time.Duration) Option {
	return func(o *redis.Options, _ *Conn) {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dial, readWrite, readWrite
	}
}

// Open parses a redis:// or rediss:// URL and returns a Conn named name
// (the client label of its metric and its log lines). It does not dial:
// the first command does, so a service starts while Redis is down and
// runs degraded until it answers. The returned func closes the client.
func Open(url, name string, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Conn, func(), error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("redis url: %w", err)
	}
	o.DialTimeout = DefaultDialTimeout
	o.ReadTimeout = DefaultReadTimeout
	o.WriteTimeout = DefaultWriteTimeout
	o.PoolTimeout = DefaultPoolTimeout
	o.MaxRetries = -1   // a retry would double the time a failure costs a request
	o.DialerRetries = 1 // likewise for dialing
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true // no CLIENT SETINFO round trip on every new connection
	c := &Conn{name: name, logger: logger.With("redis", name), cooldown: DefaultCooldown, stop: make(chan struct{})}
	for _, opt := range opts {
		opt(o, c)
	}
	c.client = redis.NewClient(o)
	if err := instrument(c.client); err != nil {
		_ = c.client.Close()
		return nil, nil, fmt.Errorf("trace redis commands of %s: %w", name, err)
	}
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "slipway_redis_up",
		Help:        "1 while Redis answers, 0 while it is skipped after a failure (callers degrade to the database or memory).",
		ConstLabels: prometheus.Labels{"client": name},
	}, func() float64 {
		if c.Degraded() {
			return 0
		}
		return 1
	})
	if err := reg.Register(up); err != nil {
		_ = c.client.Close()
		return nil, nil, fmt.Errorf("register redis metrics of %s: %w", name, err)
	}
	return c, func() {
		c.Close()
		reg.Unregister(up)
	}, nil
}

// Client is the underlying client, for scripts and commands Do runs.
func (c *Conn) Client() *redis.Client { return c.client }

// Degraded reports whether Redis is being skipped after a failure.
func (c *Conn) Degraded() bool { return c.degraded.Load() }

// Do runs fn against Redis, or returns ErrUnavailable without calling it
// while Redis is being skipped. An error of fn that says Redis did not
// answer (a timeout, a refused or broken connection) opens the breaker; a
// reply, redis.Nil or a server error included, does not. fn's error is
// returned as is.
func (c *Conn) Do(ctx context.Context, fn func(ctx context.Context, r *redis.Client) error) error {
	if c.Degraded() {
		return ErrUnavailable
	}
	err := fn(ctx, c.client)
	if err != nil && unreachable(ctx, err) {
		c.fail(err)
	}
	return err
}

// unreachable reports whether err means Redis did not answer, rather than
// answered with an error or the caller gave up.
func unreachable(ctx context.Context, err error) bool {
	if errors.Is(err, redis.Nil) || ctx.Err() != nil {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return false // Redis answered
	}
	return true
}

// fail opens the breaker and starts the probe that closes it.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.degraded.CompareAndSwap(false, true) {
		return // closing, or another call already opened the breaker
	}
	c.logger.Warn("redis unavailable: skipping it until it answers again", "error", err.Error(),
		"probe_every", c.cooldown.String())
	c.probing.Add(1)
	go c.probe()
}

// probe pings Redis every cooldown until it answers, then closes the breaker.
func (c *Conn) probe() {
	defer c.probing.Done()
	t := time.NewTicker(c.cooldown)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.client.Options().DialTimeout+c.client.Options().ReadTimeout)
		err := c.client.Ping(ctx).Err()
		cancel()
		if err == nil {
			c.degraded.Store(false)
			c.logger.Info("redis answers again: using it")
			return
		}
	}
}

// Close stops the probe and closes the client.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.stop)
	c.mu.Unlock()
	c.probing.Wait()
	_ = c.client.Close()
}
