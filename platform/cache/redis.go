package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slipway-dev/slipway/platform/cache/redisconn"
)

// Redis is a Cache in Redis, shared by every instance, under a key prefix.
// While the connection is degraded every call returns
// redisconn.ErrUnavailable at once.
type Redis struct {
	conn   *redisconn.Conn
	prefix string
}

// NewRedis returns the cache of keys under prefix on conn.
func NewRedis(conn *redisconn.Conn, prefix string) *Redis {
	return &Redis{conn: conn, prefix: prefix}
}

// Get implements Cache.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var value []byte
	err := r.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		var err error
		value, err = c.Get(ctx, r.prefix+key).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return value, true, nil
}

// Set implements Cache.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return r.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		return c.Set(ctx, r.prefix+key, value, ttl).Err()
	})
}

// Add implements Cache with SET NX.
func (r *Redis) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	var added bool
	err := r.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		err := c.SetArgs(ctx, r.prefix+key, value, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
		switch {
		case errors.Is(err, redis.Nil):
			return nil // NX refused: the key holds something
		case err != nil:
			return err
		}
		added = true
		return nil
	})
	return added, err
}

// Delete implements Cache.
func (r *Redis) Delete(ctx context.Context, key string) error {
	return r.conn.Do(ctx, func(ctx context.Context, c *redis.Client) error {
		return c.Del(ctx, r.prefix+key).Err()
	})
}
