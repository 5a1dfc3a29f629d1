package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// TestProductCacheSeesEveryWriteOfThisInstance runs writers and readers of
// two products at once through one cached store: "up" only gains stock
// (AdjustStock), "down" only loses it (Reserve). The cache's ttl is an hour,
// so only invalidation can keep it fresh: once a write returns a stock, no
// read that starts after it may see an older one, and every read is a
// stock the product really had.
func TestProductCacheSeesEveryWriteOfThisInstance(t *testing.T) {
	const (
		writers, writesEach = 4, 25
		readers             = 4
		startDown           = writers * writesEach
	)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
			s := store.New(db, store.WithProductCache(time.Hour))
			_, err := s.AddProducts(t.Context(), product("up", 0), product("down", startDown))
			require.NoError(t, err)
			svc := domain.NewInventoryService(s)
			admin := domain.Actor{Subject: "admin-1", Role: domain.RoleAdmin}

			// What the writes that returned imply: up has at least the
			// largest stock an AdjustStock returned; down has at most its
			// start less the reserves that returned.
			var upAtLeast, reserved atomic.Int64
			read := func(id string) int64 {
				p, err := svc.GetProduct(context.Background(), id)
				require.NoError(t, err)
				return p.Stock
			}

			stop := make(chan struct{})
			var readersDone sync.WaitGroup
			for range readers {
				readersDone.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						floor, ceiling := upAtLeast.Load(), startDown-reserved.Load()
						up, down := read("up"), read("down")
						assert.GreaterOrEqual(t, up, floor, "up read older than a returned write")
						assert.LessOrEqual(t, down, ceiling, "down read older than a returned write")
						assert.LessOrEqual(t, up, int64(writers*writesEach))
						assert.GreaterOrEqual(t, down, int64(0))
					}
				})
			}

			var writersDone sync.WaitGroup
			for w := range writers {
				writersDone.Go(func() {
					for i := range writesEach {
						p, err := svc.AdjustStock(context.Background(), admin, "up", 1, "restock")
						if !assert.NoError(t, err) {
							return
						}
						raise(&upAtLeast, p.Stock)
						assert.GreaterOrEqual(t, read("up"), p.Stock, "a read right after the write")

						r, err := svc.Reserve(context.Background(), fmt.Sprintf("o-%d-%d", w, i), []domain.Item{{ProductID: "down", Quantity: 1}})
						if !assert.NoError(t, err) {
							return
						}
						assert.Len(t, r.Items, 1)
						ceiling := startDown - reserved.Add(1)
						assert.LessOrEqual(t, read("down"), ceiling, "a read right after the reserve")
					}
				})
			}
			writersDone.Wait()
			close(stop)
			readersDone.Wait()
			assert.Equal(t, int64(writers*writesEach), read("up"))
			assert.Equal(t, int64(0), read("down"))
		})
	}
}

// raise sets v to n when n is larger.
func raise(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
