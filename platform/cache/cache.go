// Package cache is a small byte-oriented cache with per-entry TTLs: Memory
// (bounded, per process) by default, Redis when REDIS_URL is set, and Aside,
// the typed cache-aside on top that services use.
//
// A cache is an optimisation, never the source of truth: a Redis that does
// not answer makes every lookup a miss (the caller reads its database) and
// is skipped for a while (see redisconn), so losing it costs speed, not
// correctness.
package cache

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
)

// Cache stores values under string keys until their TTL passes. Errors mean
// the cache could not answer (Redis unreachable); callers treat them as a
// miss and carry on. Implementations are safe for concurrent use.
type Cache interface {
	// Get returns the value of key and true, or false when there is none.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl, replacing any value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Add stores value under key for ttl only when key holds nothing, and
	// reports whether it did.
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// DefaultMaxEntries bounds the in-memory cache Open returns.
const DefaultMaxEntries = 10_000

// Open returns the cache named name: in memory (at most DefaultMaxEntries
// entries, per process) when redisURL is empty, else in Redis with keys
// under "slipway:<name>:". The func releases it.
func Open(redisURL, name string, logger *slog.Logger, reg prometheus.Registerer) (Cache, func(), error) {
	if redisURL == "" {
		logger.Info("cache in memory", "cache", name, "max_entries", DefaultMaxEntries)
		return NewMemory(DefaultMaxEntries), func() {}, nil
	}
	conn, closeConn, err := redisconn.Open(redisURL, "cache-"+name, logger, reg)
	if err != nil {
		return nil, nil, err
	}
	logger.Info("cache in redis", "cache", name, "addr", conn.Client().Options().Addr)
	return NewRedis(conn, "slipway:"+name+":"), closeConn, nil
}
