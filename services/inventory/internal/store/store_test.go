package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

var (
	t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	t1 = t0.Add(time.Minute)
)

// env is one test's fresh, migrated database and the store over it.
type env struct {
	db    *platformstore.DB
	store *store.Store
}

// forEachDialect runs test on a fresh database of every dialect.
func forEachDialect(t *testing.T, test func(t *testing.T, e env)) {
	t.Helper()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			test(t, newEnv(t, d))
		})
	}
}

func newEnv(t *testing.T, d platformstore.Dialect) env {
	t.Helper()
	db := storetest.Open(t, d)
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	return env{db: db, store: store.New(db)}
}

func product(id string, stock int64) domain.Product {
	return domain.Product{
		ID: id, Name: "Name of " + id, Description: "About " + id,
		Price: domain.Money{AmountMinor: 1250, Currency: "EUR"}, Stock: stock, UpdatedAt: t0,
	}
}

// addProducts stores ps in e.
func (e env) addProducts(t *testing.T, ps ...domain.Product) {
	t.Helper()
	n, err := e.store.AddProducts(t.Context(), ps...)
	require.NoError(t, err)
	require.Equal(t, len(ps), n)
}

func (e env) stock(t *testing.T, id string) int64 {
	t.Helper()
	p, err := e.store.GetProduct(t.Context(), id)
	require.NoError(t, err)
	return p.Stock
}

// inTx runs fn in one transaction of e's store and returns its error.
func (e env) inTx(t *testing.T, fn func(ctx context.Context, tx domain.Tx) error) error {
	t.Helper()
	return e.store.InTx(t.Context(), fn)
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		e.addProducts(t, product("a", 1))
		require.NoError(t, e.db.Migrate(t.Context(), store.Migrations()))
		assert.Equal(t, int64(1), e.stock(t, "a"))
	})
}

func TestProducts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		e.addProducts(t, product("b", 2), product("a", 1), product("c-1", 3), product("c", 0))

		t.Run("get returns every field", func(t *testing.T) {
			got, err := e.store.GetProduct(ctx, "b")
			require.NoError(t, err)
			assert.Equal(t, product("b", 2), got)
		})
		t.Run("get of an unknown id is not found", func(t *testing.T) {
			_, err := e.store.GetProduct(ctx, "nope")
			assert.ErrorIs(t, err, domain.ErrNotFound)
		})
		t.Run("adding an existing id changes nothing", func(t *testing.T) {
			n, err := e.store.AddProducts(ctx, product("a", 99), product("d", 4))
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			assert.Equal(t, int64(1), e.stock(t, "a"))
		})

		tests := []struct {
			name    string
			afterID string
			limit   int
			want    []string
		}{
			{name: "first page in byte order of ids", limit: 3, want: []string{"a", "b", "c"}},
			{name: "a page after an id", afterID: "c", limit: 3, want: []string{"c-1", "d"}},
			{name: "after an id that is not stored", afterID: "bb", limit: 1, want: []string{"c"}},
			{name: "past the end", afterID: "d", limit: 3},
		}
		for _, tt := range tests {
			t.Run("list "+tt.name, func(t *testing.T) {
				ps, err := e.store.ListProducts(ctx, tt.afterID, tt.limit)
				require.NoError(t, err)
				var ids []string
				for _, p := range ps {
					ids = append(ids, p.ID)
				}
				assert.Equal(t, tt.want, ids)
			})
		}
	})
}

func TestStock(t *testing.T) {
	type change func(ctx context.Context, tx domain.Tx, id string) (bool, error)
	take := func(q int64) change {
		return func(ctx context.Context, tx domain.Tx, id string) (bool, error) { return tx.TakeStock(ctx, id, q, t1) }
	}
	put := func(q int64) change {
		return func(ctx context.Context, tx domain.Tx, id string) (bool, error) { return tx.PutStock(ctx, id, q, t1) }
	}
	unknown := func(c change) change {
		return func(ctx context.Context, tx domain.Tx, _ string) (bool, error) { return c(ctx, tx, "nope") }
	}
	tests := []struct {
		name      string
		change    change
		wantOK    bool
		wantStock int64
	}{
		{name: "take some", change: take(3), wantOK: true, wantStock: 2},
		{name: "take all", change: take(5), wantOK: true, wantStock: 0},
		{name: "take more than there is changes nothing", change: take(6), wantStock: 5},
		{name: "take from an unknown product changes nothing", change: unknown(take(1)), wantStock: 5},
		{name: "put some", change: put(7), wantOK: true, wantStock: 12},
		{name: "put to an unknown product changes nothing", change: unknown(put(1)), wantStock: 5},
	}
	forEachDialect(t, func(t *testing.T, e env) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// Each case gets its own product with 5 units.
				id := fmt.Sprintf("p-%d", i)
				e.addProducts(t, product(id, 5))
				var ok bool
				err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
					var err error
					ok, err = tt.change(ctx, tx, id)
					return err
				})
				require.NoError(t, err)
				assert.Equal(t, tt.wantOK, ok)
				p, err := e.store.GetProduct(t.Context(), id)
				require.NoError(t, err)
				assert.Equal(t, tt.wantStock, p.Stock)
				if tt.wantOK {
					assert.Equal(t, t1, p.UpdatedAt, "a stock change stamps the product")
				} else {
					assert.Equal(t, t0, p.UpdatedAt)
				}
			})
		}
	})
}

// The database itself refuses negative stock, whatever the code does.
func TestDatabaseRefusesNegativeStock(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		e.addProducts(t, product("a", 1))
		_, err := e.db.ExecContext(t.Context(), `UPDATE products SET stock = stock - 2 WHERE id = 'a'`)
		require.Error(t, err)
		assert.True(t, platformstore.IsCheckViolation(err), "want a check violation, got %v", err)
		assert.Equal(t, int64(1), e.stock(t, "a"))
	})
}

func TestReservations(t *testing.T) {
	held := domain.Reservation{
		OrderID: "o-1",
		Items:   []domain.Item{{ProductID: "a", Quantity: 2}, {ProductID: "b", Quantity: 1}},
		Status:  domain.StatusReserved, CreatedAt: t0, UpdatedAt: t0,
	}
	tombstone := domain.Reservation{OrderID: "o-2", Status: domain.StatusReleased, CreatedAt: t0, UpdatedAt: t0}

	forEachDialect(t, func(t *testing.T, e env) {
		t.Run("create then get", func(t *testing.T) {
			err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
				created, err := tx.CreateReservation(ctx, held)
				require.NoError(t, err)
				assert.True(t, created)
				got, err := tx.GetReservation(ctx, "o-1")
				require.NoError(t, err)
				assert.Equal(t, held, got)
				return nil
			})
			require.NoError(t, err)
		})
		t.Run("a second create for the order stores nothing", func(t *testing.T) {
			other := held
			other.Items = []domain.Item{{ProductID: "c", Quantity: 9}}
			err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
				created, err := tx.CreateReservation(ctx, other)
				require.NoError(t, err)
				assert.False(t, created)
				got, err := tx.GetReservation(ctx, "o-1")
				require.NoError(t, err)
				assert.Equal(t, held, got)
				return nil
			})
			require.NoError(t, err)
		})
		t.Run("a tombstone has no items", func(t *testing.T) {
			err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
				created, err := tx.CreateReservation(ctx, tombstone)
				require.NoError(t, err)
				assert.True(t, created)
				got, err := tx.GetReservation(ctx, "o-2")
				require.NoError(t, err)
				assert.Equal(t, tombstone, got)
				return nil
			})
			require.NoError(t, err)
		})
		t.Run("get of an unknown order is not found", func(t *testing.T) {
			err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
				_, err := tx.GetReservation(ctx, "nope")
				return err
			})
			assert.ErrorIs(t, err, domain.ErrNotFound)
		})
		t.Run("mark released once", func(t *testing.T) {
			err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
				first, err := tx.MarkReleased(ctx, "o-1", t1)
				require.NoError(t, err)
				second, err := tx.MarkReleased(ctx, "o-1", t1.Add(time.Minute))
				require.NoError(t, err)
				tomb, err := tx.MarkReleased(ctx, "o-2", t1)
				require.NoError(t, err)
				unknown, err := tx.MarkReleased(ctx, "nope", t1)
				require.NoError(t, err)
				assert.Equal(t, []bool{true, false, false, false}, []bool{first, second, tomb, unknown})

				got, err := tx.GetReservation(ctx, "o-1")
				require.NoError(t, err)
				want := held
				want.Status, want.UpdatedAt = domain.StatusReleased, t1
				assert.Equal(t, want, got)
				return nil
			})
			require.NoError(t, err)
		})
	})
}

func TestInTxRollsBackOnError(t *testing.T) {
	errAbort := errors.New("abort")
	forEachDialect(t, func(t *testing.T, e env) {
		e.addProducts(t, product("a", 5))
		err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.CreateReservation(ctx, domain.Reservation{
				OrderID: "o-1", Items: []domain.Item{{ProductID: "a", Quantity: 2}},
				Status: domain.StatusReserved, CreatedAt: t0, UpdatedAt: t0,
			})
			require.NoError(t, err)
			ok, err := tx.TakeStock(ctx, "a", 2, t1)
			require.NoError(t, err)
			require.True(t, ok)
			return errAbort
		})
		require.ErrorIs(t, err, errAbort)
		assert.Equal(t, int64(5), e.stock(t, "a"))
		err = e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetReservation(ctx, "o-1")
			return err
		})
		assert.ErrorIs(t, err, domain.ErrNotFound)
	})
}

func TestRecordAdjustment(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		e.addProducts(t, product("a", 5))
		err := e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
			return tx.RecordAdjustment(ctx, domain.StockAdjustment{ProductID: "a", Delta: -2, Reason: "damaged", Actor: "admin-1", At: t1})
		})
		require.NoError(t, err)

		var (
			delta         int64
			reason, actor string
		)
		err = e.db.QueryRowContext(t.Context(),
			`SELECT delta, reason, actor FROM stock_adjustments WHERE product_id = $1`, "a").Scan(&delta, &reason, &actor)
		require.NoError(t, err)
		assert.Equal(t, int64(-2), delta)
		assert.Equal(t, "damaged", reason)
		assert.Equal(t, "admin-1", actor)
	})
}

func TestSeedCatalog(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		n, err := e.store.SeedCatalog(ctx, t0)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 12)
		assert.Len(t, store.Catalog(), n)

		first := store.Catalog()[0]
		ok := false
		err = e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
			ok, err = tx.TakeStock(ctx, first.ID, 1, t1)
			return err
		})
		require.NoError(t, err)
		require.True(t, ok)

		again, err := e.store.SeedCatalog(ctx, t1)
		require.NoError(t, err)
		assert.Zero(t, again, "seeding again adds nothing")
		assert.Equal(t, first.Stock-1, e.stock(t, first.ID), "seeding again keeps stock that changed")

		ps, err := e.store.ListProducts(ctx, "", 100)
		require.NoError(t, err)
		assert.Len(t, ps, n)
		for _, p := range ps {
			assert.NotEmpty(t, p.Name, p.ID)
			assert.NotEmpty(t, p.Description, p.ID)
			assert.Positive(t, p.Price.AmountMinor, p.ID)
			assert.Equal(t, "USD", p.Price.Currency, p.ID)
		}
	})
}
