package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
)

// These tests run the real InventoryService over the real store on every
// dialect: the rules the domain tests script, checked against what the
// database actually does.

func (e env) service() *domain.InventoryService { return domain.NewInventoryService(e.store) }

func TestReserveAndRelease(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		svc := e.service()
		e.addProducts(t, product("a", 5), product("b", 2))
		items := []domain.Item{{ProductID: "b", Quantity: 2}, {ProductID: "a", Quantity: 3}}

		first, err := svc.Reserve(ctx, "o-1", items)
		require.NoError(t, err)
		assert.Equal(t, domain.StatusReserved, first.Status)
		eur := domain.Money{AmountMinor: 1250, Currency: "EUR"}
		assert.Equal(t, []domain.Item{
			{ProductID: "a", Quantity: 3, Name: "Name of a", UnitPrice: eur},
			{ProductID: "b", Quantity: 2, Name: "Name of b", UnitPrice: eur},
		}, first.Items, "each line with the price its stock was taken at")
		assert.Equal(t, []int64{2, 0}, []int64{e.stock(t, "a"), e.stock(t, "b")})

		t.Run("the same items again take nothing and answer the prices reserved at", func(t *testing.T) {
			_, err := e.db.ExecContext(ctx, `UPDATE products SET price_minor = 9999, name = 'Renamed' WHERE id = 'a'`)
			require.NoError(t, err)
			again, err := svc.Reserve(ctx, "o-1", []domain.Item{{ProductID: "a", Quantity: 3}, {ProductID: "b", Quantity: 2}})
			require.NoError(t, err)
			assert.Equal(t, first, again)
			assert.Equal(t, []int64{2, 0}, []int64{e.stock(t, "a"), e.stock(t, "b")})
		})
		t.Run("different items under the order fail", func(t *testing.T) {
			_, err := svc.Reserve(ctx, "o-1", []domain.Item{{ProductID: "a", Quantity: 1}})
			assert.ErrorIs(t, err, domain.ErrFailedPrecondition)
			assert.Equal(t, int64(2), e.stock(t, "a"))
		})
		t.Run("all or nothing", func(t *testing.T) {
			// a has enough, b has none: a's units must come back.
			_, err := svc.Reserve(ctx, "o-2", []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 1}})
			var ise *domain.InsufficientStockError
			require.ErrorAs(t, err, &ise)
			assert.Equal(t, domain.InsufficientStockError{ProductID: "b", Requested: 1, Available: 0}, *ise)
			assert.ErrorIs(t, err, domain.ErrFailedPrecondition)
			assert.Equal(t, int64(2), e.stock(t, "a"))
		})
		t.Run("an unknown product is not found and takes nothing", func(t *testing.T) {
			_, err := svc.Reserve(ctx, "o-3", []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "zz", Quantity: 1}})
			assert.ErrorIs(t, err, domain.ErrNotFound)
			assert.Equal(t, int64(2), e.stock(t, "a"))
		})
		t.Run("a failed reserve leaves the order free", func(t *testing.T) {
			r, err := svc.Reserve(ctx, "o-2", []domain.Item{{ProductID: "a", Quantity: 1}})
			require.NoError(t, err)
			assert.Equal(t, domain.StatusReserved, r.Status)
			assert.Equal(t, int64(1), e.stock(t, "a"))
		})
		t.Run("release returns the stock once", func(t *testing.T) {
			r, err := svc.Release(ctx, "o-1")
			require.NoError(t, err)
			assert.Equal(t, domain.StatusReleased, r.Status)
			assert.Equal(t, first.Items, r.Items)
			assert.Equal(t, []int64{4, 2}, []int64{e.stock(t, "a"), e.stock(t, "b")})

			again, err := svc.Release(ctx, "o-1")
			require.NoError(t, err)
			assert.Equal(t, r, again)
			assert.Equal(t, []int64{4, 2}, []int64{e.stock(t, "a"), e.stock(t, "b")})
		})
		t.Run("a released order cannot be reserved again", func(t *testing.T) {
			_, err := svc.Reserve(ctx, "o-1", items)
			assert.ErrorIs(t, err, domain.ErrFailedPrecondition)
			assert.Equal(t, []int64{4, 2}, []int64{e.stock(t, "a"), e.stock(t, "b")})
		})
		t.Run("a release before the reserve blocks the late reserve", func(t *testing.T) {
			tomb, err := svc.Release(ctx, "o-late")
			require.NoError(t, err)
			assert.Equal(t, domain.StatusReleased, tomb.Status)
			assert.Empty(t, tomb.Items)

			_, err = svc.Reserve(ctx, "o-late", []domain.Item{{ProductID: "a", Quantity: 1}})
			assert.ErrorIs(t, err, domain.ErrFailedPrecondition)
			assert.ErrorContains(t, err, "released")
			assert.Equal(t, int64(4), e.stock(t, "a"), "stock never leaks to a compensated order")
		})
	})
}

func TestAdjustStockOverStore(t *testing.T) {
	admin := domain.Actor{Subject: "admin-1", Role: domain.RoleAdmin}
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		svc := e.service()
		e.addProducts(t, product("a", 5))

		p, err := svc.AdjustStock(ctx, admin, "a", 10, "restock")
		require.NoError(t, err)
		assert.Equal(t, int64(15), p.Stock)

		p, err = svc.AdjustStock(ctx, admin, "a", -15, "stocktake")
		require.NoError(t, err)
		assert.Equal(t, int64(0), p.Stock)

		_, err = svc.AdjustStock(ctx, admin, "a", -1, "oops")
		assert.ErrorIs(t, err, domain.ErrFailedPrecondition)
		_, err = svc.AdjustStock(ctx, admin, "zz", 1, "")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		_, err = svc.AdjustStock(ctx, domain.Actor{Subject: "c", Role: "customer"}, "a", 1, "")
		assert.ErrorIs(t, err, domain.ErrPermissionDenied)
		assert.Equal(t, int64(0), e.stock(t, "a"))

		var n int
		require.NoError(t, e.db.QueryRowContext(ctx, `SELECT count(*) FROM stock_adjustments`).Scan(&n))
		assert.Equal(t, 2, n, "only the adjustments that happened are recorded")
	})
}

// Fifty orders race for ten units: exactly ten win, stock ends at zero and
// every loser is told why.
func TestConcurrentReservesNeverOversell(t *testing.T) {
	const (
		units  = 10
		orders = 50
	)
	forEachDialect(t, func(t *testing.T, e env) {
		svc := e.service()
		e.addProducts(t, product("last-ten", units))

		errs := make([]error, orders)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range orders {
			wg.Go(func() {
				<-start
				_, errs[i] = svc.Reserve(t.Context(), fmt.Sprintf("order-%02d", i), []domain.Item{{ProductID: "last-ten", Quantity: 1}})
			})
		}
		close(start)
		wg.Wait()

		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				continue
			}
			assert.ErrorIs(t, err, domain.ErrFailedPrecondition, "order %d", i)
			var ise *domain.InsufficientStockError
			if assert.ErrorAs(t, err, &ise, "order %d", i) {
				assert.Equal(t, domain.InsufficientStockError{ProductID: "last-ten", Requested: 1, Available: 0}, *ise)
			}
			assert.ErrorContains(t, err, `insufficient stock for product "last-ten": requested 1, available 0`)
		}
		assert.Equal(t, units, won)
		assert.Equal(t, int64(0), e.stock(t, "last-ten"))

		var held int
		require.NoError(t, e.db.QueryRowContext(t.Context(),
			`SELECT count(*) FROM reservations WHERE status = 'RESERVED'`).Scan(&held))
		assert.Equal(t, units, held, "only the winners hold a reservation")
	})
}

// The same order retried concurrently (a client timing out and retrying)
// reserves once; releasing it concurrently returns the stock once.
func TestConcurrentDuplicatesActOnce(t *testing.T) {
	const callers = 20
	forEachDialect(t, func(t *testing.T, e env) {
		svc := e.service()
		e.addProducts(t, product("a", 10), product("b", 10))
		items := []domain.Item{{ProductID: "a", Quantity: 3}, {ProductID: "b", Quantity: 1}}

		race := func(call func(i int) (domain.Reservation, error)) []domain.Reservation {
			t.Helper()
			got := make([]domain.Reservation, callers)
			errs := make([]error, callers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range callers {
				wg.Go(func() {
					<-start
					got[i], errs[i] = call(i)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "caller %d", i)
			}
			return got
		}

		reserved := race(func(i int) (domain.Reservation, error) {
			if i%2 == 1 { // the same items listed the other way round
				return svc.Reserve(t.Context(), "o-1", []domain.Item{items[1], items[0]})
			}
			return svc.Reserve(t.Context(), "o-1", items)
		})
		for _, r := range reserved {
			assert.Equal(t, reserved[0], r)
		}
		assert.Equal(t, []int64{7, 9}, []int64{e.stock(t, "a"), e.stock(t, "b")})

		released := race(func(int) (domain.Reservation, error) { return svc.Release(t.Context(), "o-1") })
		for _, r := range released {
			assert.Equal(t, domain.StatusReleased, r.Status)
			assert.Equal(t, released[0], r)
		}
		assert.Equal(t, []int64{10, 10}, []int64{e.stock(t, "a"), e.stock(t, "b")})
	})
}
