package store

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
)

// productCache is GetProduct's read-through cache, in process memory.
//
// An entry lives for ttl from the moment its load began, so a read serves
// nothing older than ttl. Store drops a product (invalidate) after every
// commit that changed it. The race that leaves: a load that read the
// database before the commit and stores its old value after the drop. Every
// product has a generation, which invalidate bumps; a load stores its value
// only if the generation is still the one it began under, so it cannot.
// Concurrent misses of one product under one generation share one load
// (singleflight); a read that begins after an invalidation has a new
// generation, so it never joins a load that began before the change.
type productCache struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedProduct
	gens    map[string]uint64 // only products ever invalidated; bounded by the catalog
	loads   singleflight.Group
}

type cachedProduct struct {
	product domain.Product
	expires time.Time
}

func newProductCache(ttl time.Duration, maxEntries int, now func() time.Time) *productCache {
	return &productCache{
		ttl: ttl, maxEntries: maxEntries, now: now,
		entries: make(map[string]cachedProduct), gens: make(map[string]uint64),
	}
}

// get returns the product id from the cache, or from load, caching it. An
// error (ErrNotFound included) is returned and not cached.
func (c *productCache) get(ctx context.Context, id string, load func(context.Context) (domain.Product, error)) (domain.Product, error) {
	start := c.now()
	c.mu.RLock()
	e, hit := c.entries[id]
	gen := c.gens[id]
	c.mu.RUnlock()
	if hit && start.Before(e.expires) {
		return e.product, nil
	}
	// The load runs on a context of its own so that one caller giving up
	// does not fail the others sharing it; each caller still stops waiting
	// when its own context ends.
	key := id + "\x00" + strconv.FormatUint(gen, 10)
	ch := c.loads.DoChan(key, func() (any, error) {
		p, err := load(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		c.store(id, gen, cachedProduct{product: p, expires: start.Add(c.ttl)})
		return p, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return domain.Product{}, r.Err
		}
		return r.Val.(domain.Product), nil
	case <-ctx.Done():
		return domain.Product{}, context.Cause(ctx)
	}
}

// store caches e unless the product was invalidated since gen was read.
func (c *productCache) store(id string, gen uint64, e cachedProduct) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[id] != gen {
		return
	}
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.maxEntries {
		return
	}
	c.entries[id] = e
}

// invalidate drops the products and makes every load already running for
// them keep its value to itself.
func (c *productCache) invalidate(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.gens[id]++
		delete(c.entries, id)
	}
}
