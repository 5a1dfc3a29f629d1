package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/cache"
	"github.com/slipway-dev/slipway/platform/cache/redisconn"
	"github.com/slipway-dev/slipway/platform/cache/redistest"
)

type profile struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// source is the source of truth an Aside fronts, counting its loads.
type source struct {
	value atomic.Pointer[profile]
	loads atomic.Int32
}

func newSource(p profile) *source {
	s := &source{}
	s.value.Store(&p)
	return s
}

func (s *source) load(context.Context) (profile, error) {
	s.loads.Add(1)
	return *s.value.Load(), nil
}

func newAside(t *testing.T, c cache.Cache, opts ...cache.AsideOption) (*cache.Aside[profile], *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := cache.NewAside[profile](c, "profiles", time.Minute, reg, opts...)
	require.NoError(t, err)
	return a, reg
}

func requests(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "slipway_cache_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cache"] == "profiles" && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestAside(t *testing.T) {
	for name, newCache := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()

			t.Run("loads once then hits", func(t *testing.T) {
				a, reg := newAside(t, newCache(t))
				src := newSource(profile{Name: "ada", Version: 1})
				for range 3 {
					got, err := a.Get(ctx, "u1", src.load)
					require.NoError(t, err)
					assert.Equal(t, profile{Name: "ada", Version: 1}, got)
				}
				assert.Equal(t, int32(1), src.loads.Load())
				assert.Equal(t, 1.0, requests(t, reg, "miss"))
				assert.Equal(t, 2.0, requests(t, reg, "hit"))
			})

			t.Run("invalidate makes the next get read the change", func(t *testing.T) {
				a, _ := newAside(t, newCache(t))
				src := newSource(profile{Name: "ada", Version: 1})
				_, err := a.Get(ctx, "u1", src.load)
				require.NoError(t, err)

				src.value.Store(&profile{Name: "ada lovelace", Version: 2}) // the commit
				require.NoError(t, a.Invalidate(ctx, "u1"))

				got, err := a.Get(ctx, "u1", src.load)
				require.NoError(t, err)
				assert.Equal(t, 2, got.Version)
			})

			t.Run("a load from before the change is not cached after it", func(t *testing.T) {
				a, _ := newAside(t, newCache(t))
				src := newSource(profile{Name: "v1", Version: 1})
				// The reader loads v1; before it caches it, the writer commits v2
				// and invalidates.
				got, err := a.Get(ctx, "u1", func(ctx context.Context) (profile, error) {
					old, _ := src.load(ctx)
					src.value.Store(&profile{Name: "v2", Version: 2})
					require.NoError(t, a.Invalidate(ctx, "u1"))
					return old, nil
				})
				require.NoError(t, err)
				assert.Equal(t, 1, got.Version, "the reader answers what it read")

				got, err = a.Get(ctx, "u1", src.load)
				require.NoError(t, err)
				assert.Equal(t, 2, got.Version, "the next reader does not get the stale v1")
			})

			t.Run("a load slower than the hold is not cached", func(t *testing.T) {
				a, _ := newAside(t, newCache(t), cache.WithHold(time.Millisecond))
				src := newSource(profile{Name: "slow", Version: 1})
				_, err := a.Get(ctx, "u1", func(ctx context.Context) (profile, error) {
					time.Sleep(5 * time.Millisecond)
					return src.load(ctx)
				})
				require.NoError(t, err)
				_, err = a.Get(ctx, "u1", src.load)
				require.NoError(t, err)
				assert.Equal(t, int32(2), src.loads.Load(), "the second get loaded again")
			})

			t.Run("a failed load is returned and not cached", func(t *testing.T) {
				a, _ := newAside(t, newCache(t))
				boom := errors.New("db down")
				_, err := a.Get(ctx, "u1", func(context.Context) (profile, error) { return profile{}, boom })
				require.ErrorIs(t, err, boom)
				src := newSource(profile{Name: "ok", Version: 1})
				got, err := a.Get(ctx, "u1", src.load)
				require.NoError(t, err)
				assert.Equal(t, "ok", got.Name)
			})
		})
	}
}

func TestNewAsideNeedsATTL(t *testing.T) {
	_, err := cache.NewAside[profile](cache.NewMemory(1), "profiles", 0, prometheus.NewRegistry())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ttl")
}

// Two Asides on one registry share the counter instead of failing.
func TestAsidesShareTheirMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := cache.NewAside[profile](cache.NewMemory(1), "a", time.Minute, reg)
	require.NoError(t, err)
	_, err = cache.NewAside[profile](cache.NewMemory(1), "b", time.Minute, reg)
	require.NoError(t, err)
}

// With Redis partitioned, lookups still answer from the source (counted as
// errors, each costing no Redis call once it is skipped), invalidation
// reports that it could not reach the cache, and once Redis is back the
// cache is used again.
func TestAsideDegradesToTheSourceWhenRedisIsPartitioned(t *testing.T) {
	url, prefix := redistest.URL(t)
	proxy := redistest.NewProxy(t, url)
	conn, closeConn, err := redisconn.Open(proxy.URL(t, url), "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry(),
		redisconn.WithCooldown(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(closeConn)
	a, reg := newAside(t, cache.NewRedis(conn, prefix))
	src := newSource(profile{Name: "ada", Version: 1})
	ctx := t.Context()

	_, err = a.Get(ctx, "u1", src.load)
	require.NoError(t, err)

	proxy.BlackHole()
	for range 20 {
		got, err := a.Get(ctx, "u1", src.load)
		require.NoError(t, err, "a lookup never fails because of the cache")
		assert.Equal(t, "ada", got.Name)
	}
	assert.Equal(t, 20.0, requests(t, reg, "error"))
	assert.Equal(t, int32(21), src.loads.Load(), "every lookup read the source")
	assert.True(t, conn.Degraded())
	require.ErrorIs(t, a.Invalidate(ctx, "u1"), redisconn.ErrUnavailable)

	proxy.Forward()
	require.Eventually(t, func() bool { return !conn.Degraded() }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, a.Invalidate(ctx, "u1"))
	src.value.Store(&profile{Name: "ada lovelace", Version: 2})
	got, err := a.Get(ctx, "u1", src.load)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Version)

	hits := requests(t, reg, "hit")
	for range 2 {
		_, err = a.Get(ctx, "u2", src.load)
		require.NoError(t, err)
	}
	assert.Equal(t, hits+1, requests(t, reg, "hit"), "the cache fills and answers again")
}
