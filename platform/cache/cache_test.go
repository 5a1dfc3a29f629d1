package cache_test

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/cache"
	"github.com/slipway-dev/slipway/platform/cache/redisconn"
	"github.com/slipway-dev/slipway/platform/cache/redistest"
)

// backends returns each Cache implementation, fresh for the test.
func backends() map[string]func(t *testing.T) cache.Cache {
	return map[string]func(t *testing.T) cache.Cache{
		"memory": func(*testing.T) cache.Cache { return cache.NewMemory(100) },
		"redis": func(t *testing.T) cache.Cache {
			url, prefix := redistest.URL(t)
			conn, closeConn, err := redisconn.Open(url, "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			require.NoError(t, err)
			t.Cleanup(closeConn)
			return cache.NewRedis(conn, prefix)
		},
	}
}

// Every Cache keeps values until deleted or expired, and Add never replaces.
func TestCache(t *testing.T) {
	for name, newCache := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()

			t.Run("get of a missing key is a miss", func(t *testing.T) {
				_, found, err := newCache(t).Get(ctx, "nothing")
				require.NoError(t, err)
				assert.False(t, found)
			})

			t.Run("set then get", func(t *testing.T) {
				c := newCache(t)
				require.NoError(t, c.Set(ctx, "k", []byte("one"), time.Minute))
				require.NoError(t, c.Set(ctx, "k", []byte("two"), time.Minute))
				got, found, err := c.Get(ctx, "k")
				require.NoError(t, err)
				assert.True(t, found)
				assert.Equal(t, []byte("two"), got, "set replaces")
			})

			t.Run("add stores only when absent", func(t *testing.T) {
				c := newCache(t)
				added, err := c.Add(ctx, "k", []byte("first"), time.Minute)
				require.NoError(t, err)
				assert.True(t, added)
				added, err = c.Add(ctx, "k", []byte("second"), time.Minute)
				require.NoError(t, err)
				assert.False(t, added)
				got, _, err := c.Get(ctx, "k")
				require.NoError(t, err)
				assert.Equal(t, []byte("first"), got)
			})

			t.Run("delete", func(t *testing.T) {
				c := newCache(t)
				require.NoError(t, c.Set(ctx, "k", []byte("v"), time.Minute))
				require.NoError(t, c.Delete(ctx, "k"))
				require.NoError(t, c.Delete(ctx, "k"), "deleting a missing key is fine")
				_, found, err := c.Get(ctx, "k")
				require.NoError(t, err)
				assert.False(t, found)
			})

			t.Run("entries expire after their ttl", func(t *testing.T) {
				c := newCache(t)
				require.NoError(t, c.Set(ctx, "short", []byte("v"), 50*time.Millisecond))
				require.NoError(t, c.Set(ctx, "long", []byte("v"), time.Hour))
				require.Eventually(t, func() bool {
					_, found, err := c.Get(ctx, "short")
					return err == nil && !found
				}, 30*time.Second, 10*time.Millisecond)
				_, found, err := c.Get(ctx, "long")
				require.NoError(t, err)
				assert.True(t, found, "a longer ttl is still there")
				added, err := c.Add(ctx, "short", []byte("again"), time.Minute)
				require.NoError(t, err)
				assert.True(t, added, "an expired key is absent for Add")
			})

			t.Run("concurrent use", func(t *testing.T) {
				c := newCache(t)
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						for j := range 20 {
							key := fmt.Sprintf("k%d", (i+j)%5)
							assert.NoError(t, c.Set(ctx, key, []byte(key), time.Minute))
							got, found, err := c.Get(ctx, key)
							assert.NoError(t, err)
							if found {
								assert.Equal(t, key, string(got))
							}
						}
					})
				}
				wg.Wait()
			})
		})
	}
}

// Memory holds at most its bound, dropping the least recently used entry.
func TestMemoryIsBounded(t *testing.T) {
	ctx := t.Context()
	m := cache.NewMemory(3)
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, m.Set(ctx, k, []byte(k), time.Minute))
	}
	_, _, _ = m.Get(ctx, "a") // a is now more recently used than b
	require.NoError(t, m.Set(ctx, "d", []byte("d"), time.Minute))

	assert.Equal(t, 3, m.Len())
	_, found, _ := m.Get(ctx, "b")
	assert.False(t, found, "the least recently used entry went")
	for _, k := range []string{"a", "c", "d"} {
		_, found, _ := m.Get(ctx, k)
		assert.True(t, found, k)
	}
}

// Memory copies what it stores: the caller may reuse its slice.
func TestMemoryCopiesValues(t *testing.T) {
	m := cache.NewMemory(10)
	v := []byte("abc")
	require.NoError(t, m.Set(t.Context(), "k", v, time.Minute))
	v[0] = 'X'
	got, _, _ := m.Get(t.Context(), "k")
	assert.Equal(t, []byte("abc"), got)
}

// Open picks memory without a URL and Redis with one.
func TestOpen(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	c, closeCache, err := cache.Open("", "users", logger, prometheus.NewRegistry())
	require.NoError(t, err)
	defer closeCache()
	assert.IsType(t, &cache.Memory{}, c)

	url, _ := redistest.URL(t)
	c, closeCache, err = cache.Open(url, "users", logger, prometheus.NewRegistry())
	require.NoError(t, err)
	defer closeCache()
	assert.IsType(t, &cache.Redis{}, c)

	_, _, err = cache.Open("memcached://x:11211", "users", logger, prometheus.NewRegistry())
	assert.Error(t, err)
}
