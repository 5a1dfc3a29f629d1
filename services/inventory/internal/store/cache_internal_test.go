package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
)

// clock is a time that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// source is a product database the cache loads from, counting its loads.
type source struct {
	stock atomic.Int64
	loads atomic.Int64
}

func (s *source) load(context.Context) (domain.Product, error) {
	s.loads.Add(1)
	return domain.Product{ID: "a", Stock: s.stock.Load()}, nil
}

func TestProductCache(t *testing.T) {
	const ttl = time.Second
	newCache := func() (*productCache, *clock) {
		c := &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}
		return newProductCache(ttl, 10, c.now), c
	}

	t.Run("a hit does not load", func(t *testing.T) {
		cache, _ := newCache()
		var src source
		src.stock.Store(5)
		for range 3 {
			p, err := cache.get(t.Context(), "a", src.load)
			require.NoError(t, err)
			assert.Equal(t, int64(5), p.Stock)
		}
		assert.Equal(t, int64(1), src.loads.Load())
	})

	t.Run("an entry is served for at most the ttl", func(t *testing.T) {
		cache, clk := newCache()
		var src source
		src.stock.Store(5)
		_, err := cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		src.stock.Store(4) // another instance's change: nothing invalidates here
		clk.add(ttl - time.Nanosecond)
		p, err := cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		assert.Equal(t, int64(5), p.Stock, "within the ttl the old value may be served")
		clk.add(time.Nanosecond)
		p, err = cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		assert.Equal(t, int64(4), p.Stock, "at the ttl it is loaded again")
	})

	t.Run("an invalidation makes the next read load", func(t *testing.T) {
		cache, _ := newCache()
		var src source
		src.stock.Store(5)
		_, err := cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		src.stock.Store(4)
		cache.invalidate("a")
		p, err := cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		assert.Equal(t, int64(4), p.Stock)
	})

	// The classic race: a read loads the old value, the write commits and
	// invalidates, then the read would cache the old value.
	t.Run("a load that began before an invalidation does not cache its value", func(t *testing.T) {
		cache, _ := newCache()
		loaded, release := make(chan struct{}), make(chan struct{})
		stale := func(context.Context) (domain.Product, error) {
			close(loaded)
			<-release
			return domain.Product{ID: "a", Stock: 5}, nil
		}
		done := make(chan domain.Product)
		go func() {
			p, _ := cache.get(context.Background(), "a", stale)
			done <- p
		}()
		<-loaded
		cache.invalidate("a") // the write committed after the load read
		close(release)
		assert.Equal(t, int64(5), (<-done).Stock, "the racing read answers what it read")

		var src source
		src.stock.Store(4)
		p, err := cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		assert.Equal(t, int64(4), p.Stock, "the next read does not get the racing read's value")
		assert.Equal(t, int64(1), src.loads.Load())
	})

	t.Run("a read after an invalidation does not join a load that began before it", func(t *testing.T) {
		cache, _ := newCache()
		loaded, release := make(chan struct{}), make(chan struct{})
		go func() {
			_, _ = cache.get(context.Background(), "a", func(context.Context) (domain.Product, error) {
				close(loaded)
				<-release
				return domain.Product{ID: "a", Stock: 5}, nil
			})
		}()
		<-loaded
		cache.invalidate("a")
		var src source
		src.stock.Store(4)
		p, err := cache.get(t.Context(), "a", src.load)
		close(release)
		require.NoError(t, err)
		assert.Equal(t, int64(4), p.Stock)
	})

	t.Run("concurrent misses share one load", func(t *testing.T) {
		cache, _ := newCache()
		var src source
		release := make(chan struct{})
		slow := func(ctx context.Context) (domain.Product, error) {
			<-release
			return src.load(ctx)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := cache.get(context.Background(), "a", slow)
				assert.NoError(t, err)
			})
		}
		time.Sleep(50 * time.Millisecond) // let every reader reach the load
		close(release)
		wg.Wait()
		assert.Equal(t, int64(1), src.loads.Load())
	})

	t.Run("an error is returned and not cached", func(t *testing.T) {
		cache, _ := newCache()
		errGone := errors.New("gone")
		_, err := cache.get(t.Context(), "a", func(context.Context) (domain.Product, error) { return domain.Product{}, errGone })
		require.ErrorIs(t, err, errGone)
		var src source
		_, err = cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		assert.Equal(t, int64(1), src.loads.Load())
	})

	t.Run("a caller whose context ends stops waiting", func(t *testing.T) {
		cache, _ := newCache()
		release := make(chan struct{})
		defer close(release)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := cache.get(ctx, "a", func(context.Context) (domain.Product, error) {
			<-release
			return domain.Product{}, nil
		})
		assert.ErrorIs(t, err, context.Canceled)
	})

	t.Run("a full cache serves what it holds and loads the rest", func(t *testing.T) {
		c := &clock{t: time.Now()}
		cache := newProductCache(ttl, 1, c.now)
		var src source
		_, err := cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		_, err = cache.get(t.Context(), "b", src.load)
		require.NoError(t, err)
		_, err = cache.get(t.Context(), "b", src.load)
		require.NoError(t, err)
		_, err = cache.get(t.Context(), "a", src.load)
		require.NoError(t, err)
		assert.Equal(t, int64(3), src.loads.Load(), "a is cached, b is loaded each time")
	})
}
