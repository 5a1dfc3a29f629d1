package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

// DefaultHold is how long an invalidation keeps readers from caching the
// key again; see Aside.
const DefaultHold = 10 * time.Second

// An entry is one tag byte and, for a value, its JSON.
const (
	tagValue     = 'v'
	tagTombstone = 't'
)

// Aside is cache-aside for values of type T stored as JSON in a Cache: Get
// answers from the cache or loads from the source of truth and caches what
// it loaded for the TTL; Invalidate, called after the source's change has
// committed, makes the next Get load again.
//
// The race it closes: a reader loads the old value, a writer commits and
// invalidates, then the reader caches the old value, which would be served
// until the TTL. So Invalidate does not delete the entry but writes a
// tombstone that lives for the hold (DefaultHold); readers cache with Add,
// which never replaces anything, so not the tombstone; and a reader whose
// load took longer than the hold does not cache at all. A reader that loaded
// before the commit therefore finds the tombstone, or gave up. What stays
// open: an invalidation the cache could not take (Redis unreachable, a
// tombstone evicted) leaves the old entry until its TTL, which is why the
// TTL is short.
type Aside[T any] struct {
	cache    Cache
	ttl      time.Duration
	hold     time.Duration
	hit      prometheus.Counter
	miss     prometheus.Counter
	failures prometheus.Counter
	now      func() time.Time
}

// AsideOption configures NewAside.
type AsideOption func(*asideOptions)

type asideOptions struct{ hold time.Duration }

// WithHold sets how long an invalidation keeps the key from being cached
// again (default DefaultHold). It must exceed the time a load can take.
func WithHold(d time.Duration) AsideOption { return func(o *asideOptions) { o.hold = d } }

// NewAside returns the cache-aside of T over c, caching loaded values for
// ttl and counting its lookups in slipway_cache_requests_total{cache=name}.
func NewAside[T any](c Cache, name string, ttl time.Duration, reg prometheus.Registerer, opts ...AsideOption) (*Aside[T], error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("cache %s: ttl %s: must be greater than 0", name, ttl)
	}
	o := asideOptions{hold: DefaultHold}
	for _, opt := range opts {
		opt(&o)
	}
	requests, err := requestsCounter(reg)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", name, err)
	}
	return &Aside[T]{
		cache:    c,
		ttl:      ttl,
		hold:     o.hold,
		hit:      requests.WithLabelValues(name, "hit"),
		miss:     requests.WithLabelValues(name, "miss"),
		failures: requests.WithLabelValues(name, "error"),
		now:      time.Now,
	}, nil
}

// requestsCounter registers slipway_cache_requests_total once per
// registry; every Aside of a process shares it.
func requestsCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_cache_requests_total",
		Help: "Cache lookups by cache and result: hit, miss, or error (the cache did not answer; the source was read).",
	}, []string{"cache", "result"})
	c, err := telemetry.Register(reg, c)
	if err != nil {
		return nil, fmt.Errorf("register cache metrics: %w", err)
	}
	return c, nil
}

// Get returns the value of key: from the cache, or else from load, caching
// it. A cache that does not answer, or holds an entry that does not decode,
// is a miss. Only load's error is returned.
func (a *Aside[T]) Get(ctx context.Context, key string, load func(context.Context) (T, error)) (T, error) {
	entry, found, err := a.cache.Get(ctx, key)
	switch {
	case err != nil:
		a.failures.Inc()
		return load(ctx) // the cache is down: do not try to fill it either
	case found && len(entry) > 0 && entry[0] == tagValue:
		var v T
		if json.Unmarshal(entry[1:], &v) == nil {
			a.hit.Inc()
			return v, nil
		}
	case found:
		// A tombstone: the key changed within the hold; read the source.
		a.miss.Inc()
		return load(ctx)
	}
	a.miss.Inc()
	start := a.now()
	v, err := load(ctx)
	if err != nil {
		return v, err
	}
	if a.now().Sub(start) >= a.hold {
		return v, nil // an invalidation's tombstone may be gone: v may be old
	}
	if data, err := json.Marshal(v); err == nil {
		// Add, not Set: a tombstone written since the load stays.
		_, _ = a.cache.Add(ctx, key, append([]byte{tagValue}, data...), a.ttl)
	}
	return v, nil
}

// Invalidate makes the next Get of key load it again, and keeps readers
// that loaded before the change from caching it for the hold. Call it after
// the change has committed. An error means the cache could not take it and
// may serve the old value until its TTL; the change itself stands.
func (a *Aside[T]) Invalidate(ctx context.Context, key string) error {
	if err := a.cache.Set(ctx, key, []byte{tagTombstone}, a.hold); err != nil {
		return fmt.Errorf("invalidate %s: %w", key, err)
	}
	return nil
}
