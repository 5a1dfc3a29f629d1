package store_test

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// These tests run the real InventoryService with a tiny reservation TTL over
// the real store on every dialect, and call the sweep directly instead of
// waiting for the worker.

// tinyTTL has passed by the time the next statement reaches the database.
const tinyTTL = time.Microsecond

func (e env) serviceWithTTL(ttl time.Duration) *domain.InventoryService {
	return domain.NewInventoryService(e.store, domain.WithReservationTTL(ttl))
}

// reservation reads the order's reservation as stored.
func (e env) reservation(t *testing.T, orderID string) domain.Reservation {
	t.Helper()
	var r domain.Reservation
	require.NoError(t, e.inTx(t, func(ctx context.Context, tx domain.Tx) error {
		var err error
		r, err = tx.GetReservation(ctx, orderID)
		return err
	}))
	return r
}

func TestExpiredReservationsReturnTheirStockOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		e.addProducts(t, product("a", 10), product("b", 10))
		expiring, lasting := e.serviceWithTTL(tinyTTL), e.serviceWithTTL(time.Hour)

		r, err := expiring.Reserve(ctx, "o-1", []domain.Item{{ProductID: "a", Quantity: 3}, {ProductID: "b", Quantity: 1}})
		require.NoError(t, err)
		assert.Equal(t, r.CreatedAt.Add(tinyTTL), r.ExpiresAt)
		assert.Equal(t, r, e.reservation(t, "o-1"), "the expiry is stored")
		_, err = lasting.Reserve(ctx, "o-2", []domain.Item{{ProductID: "a", Quantity: 2}})
		require.NoError(t, err)
		assert.Equal(t, []int64{5, 9}, []int64{e.stock(t, "a"), e.stock(t, "b")})

		n, err := expiring.ExpireReservations(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "only the expired reservation")
		assert.Equal(t, []int64{8, 10}, []int64{e.stock(t, "a"), e.stock(t, "b")})
		got := e.reservation(t, "o-1")
		assert.Equal(t, domain.StatusReleased, got.Status)
		assert.Equal(t, r.ExpiresAt, got.ExpiresAt, "the expiry stays as the record of why")
		assert.Equal(t, domain.StatusReserved, e.reservation(t, "o-2").Status, "an unexpired reservation keeps its stock")

		n, err = expiring.ExpireReservations(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "a second sweep finds nothing")
		_, err = expiring.Release(ctx, "o-1")
		require.NoError(t, err)
		assert.Equal(t, []int64{8, 10}, []int64{e.stock(t, "a"), e.stock(t, "b")}, "nor does a release after the expiry")

		_, err = expiring.Reserve(ctx, "o-1", []domain.Item{{ProductID: "a", Quantity: 3}, {ProductID: "b", Quantity: 1}})
		assert.ErrorIs(t, err, domain.ErrFailedPrecondition, "an expired order cannot be reserved again")
	})
}

// Sweepers on several instances race over the same expired reservations:
// each reservation's stock comes back exactly once.
func TestConcurrentSweepersReturnStockOnce(t *testing.T) {
	const (
		orders   = 30
		sweepers = 4
	)
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		e.addProducts(t, product("a", orders), product("b", 2*orders))
		svc := e.serviceWithTTL(tinyTTL)
		for i := range orders {
			_, err := svc.Reserve(ctx, orderID(i), []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}})
			require.NoError(t, err)
		}
		require.Equal(t, []int64{0, 0}, []int64{e.stock(t, "a"), e.stock(t, "b")})

		counts := make([]int, sweepers)
		errs := make([]error, sweepers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range sweepers {
			wg.Go(func() {
				<-start
				// Each instance has a service of its own over the shared database.
				counts[i], errs[i] = e.serviceWithTTL(tinyTTL).ExpireReservations(ctx)
			})
		}
		close(start)
		wg.Wait()

		total := 0
		for i := range sweepers {
			require.NoError(t, errs[i], "sweeper %d", i)
			total += counts[i]
		}
		assert.Equal(t, orders, total, "every reservation expired once across the sweepers")
		assert.Equal(t, []int64{orders, 2 * orders}, []int64{e.stock(t, "a"), e.stock(t, "b")})
	})
}

func orderID(i int) string { return fmt.Sprintf("order-%02d", i) }

func TestCommittedReservationsNeverExpire(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		e.addProducts(t, product("a", 10))
		svc := e.serviceWithTTL(tinyTTL)
		_, err := svc.Reserve(ctx, "o-1", []domain.Item{{ProductID: "a", Quantity: 4}})
		require.NoError(t, err)

		committed, err := svc.Commit(ctx, "o-1")
		require.NoError(t, err)
		assert.Equal(t, domain.StatusCommitted, committed.Status)
		assert.True(t, committed.ExpiresAt.IsZero(), "a commit clears the expiry")
		again, err := svc.Commit(ctx, "o-1")
		require.NoError(t, err)
		assert.Equal(t, committed, again, "committing again changes nothing")

		n, err := svc.ExpireReservations(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, int64(6), e.stock(t, "a"), "the sweeper leaves a committed reservation alone")

		r, err := svc.Reserve(ctx, "o-1", []domain.Item{{ProductID: "a", Quantity: 4}})
		require.NoError(t, err)
		assert.Equal(t, committed, r, "a repeated reserve returns the committed reservation")

		released, err := svc.Release(ctx, "o-1")
		require.NoError(t, err)
		assert.Equal(t, domain.StatusReleased, released.Status)
		assert.Equal(t, int64(10), e.stock(t, "a"), "releasing a committed reservation returns its stock")
		_, err = svc.Release(ctx, "o-1")
		require.NoError(t, err)
		assert.Equal(t, int64(10), e.stock(t, "a"), "once")
	})
}

func TestCommitAfterReleaseChangesNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		e.addProducts(t, product("a", 10))
		svc := e.serviceWithTTL(tinyTTL)
		_, err := svc.Reserve(ctx, "o-1", []domain.Item{{ProductID: "a", Quantity: 4}})
		require.NoError(t, err)
		n, err := svc.ExpireReservations(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		_, err = svc.Commit(ctx, "o-1")
		assert.ErrorIs(t, err, domain.ErrReleased, "the order's OrderPlaced arrived after the TTL")
		assert.Equal(t, domain.StatusReleased, e.reservation(t, "o-1").Status)
		assert.Equal(t, int64(10), e.stock(t, "a"))

		_, err = svc.Commit(ctx, "never-reserved")
		assert.ErrorIs(t, err, domain.ErrNotFound)
	})
}

// A commit and a sweep racing over one expired-but-not-yet-swept
// reservation: exactly one of them wins, and the stock matches the winner.
func TestCommitRacingTheSweeper(t *testing.T) {
	const orders = 20
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		e.addProducts(t, product("a", orders))
		svc := e.serviceWithTTL(tinyTTL)
		for i := range orders {
			_, err := svc.Reserve(ctx, orderID(i), []domain.Item{{ProductID: "a", Quantity: 1}})
			require.NoError(t, err)
		}
		commitErrs := make([]error, orders)
		var (
			wg      sync.WaitGroup
			swept   int
			sweepEr error
		)
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			swept, sweepEr = svc.ExpireReservations(ctx)
		})
		for i := range orders {
			wg.Go(func() {
				<-start
				_, commitErrs[i] = svc.Commit(ctx, orderID(i))
			})
		}
		close(start)
		wg.Wait()
		require.NoError(t, sweepEr)

		committed := 0
		for i, err := range commitErrs {
			if err == nil {
				committed++
				assert.Equal(t, domain.StatusCommitted, e.reservation(t, orderID(i)).Status)
				continue
			}
			assert.ErrorIs(t, err, domain.ErrReleased, "order %d", i)
			assert.Equal(t, domain.StatusReleased, e.reservation(t, orderID(i)).Status)
		}
		assert.Equal(t, orders, committed+swept, "each reservation went one way")
		assert.Equal(t, int64(swept), e.stock(t, "a"), "exactly the swept reservations returned their stock")
	})
}

// migrationsUpTo is the dialect's migrations numbered up to last, so a test
// can build the schema an older release left behind.
func migrationsUpTo(t *testing.T, dialect platformstore.Dialect, last string) fs.FS {
	t.Helper()
	all := store.Migrations()
	entries, err := fs.ReadDir(all, string(dialect))
	require.NoError(t, err)
	tree := fstest.MapFS{}
	for _, entry := range entries {
		if entry.Name()[:4] > last {
			continue
		}
		path := string(dialect) + "/" + entry.Name()
		data, err := fs.ReadFile(all, path)
		require.NoError(t, err)
		tree[path] = &fstest.MapFile{Data: data}
	}
	return tree
}

// Migration 0002 keeps every reservation and its items, and the wider
// schema still refuses what the domain never stores.
func TestExpiryMigrationKeepsReservations(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := t.Context()
			db := storetest.Open(t, dialect)
			require.NoError(t, db.Migrate(ctx, migrationsUpTo(t, dialect, "0001")))
			e := env{db: db, store: store.New(db)}
			e.addProducts(t, product("a", 10))
			for _, row := range []struct {
				stmt string
				args []any
			}{
				{`INSERT INTO reservations (order_id, status, fingerprint, created_at, updated_at) VALUES ('held', 'RESERVED', 'f', $1, $1)`, []any{t0}},
				{`INSERT INTO reservation_items (order_id, product_id, quantity) VALUES ('held', 'a', 3)`, nil},
				{`INSERT INTO reservations (order_id, status, fingerprint, created_at, updated_at) VALUES ('gone', 'RELEASED', '', $1, $1)`, []any{t0}},
			} {
				_, err := db.ExecContext(ctx, row.stmt, row.args...)
				require.NoError(t, err, row.stmt)
			}

			require.NoError(t, db.Migrate(ctx, store.Migrations()))

			held := e.reservation(t, "held")
			assert.Equal(t, domain.Reservation{
				OrderID: "held", Items: []domain.Item{{ProductID: "a", Quantity: 3}},
				Status: domain.StatusReserved, CreatedAt: t0, UpdatedAt: t0,
			}, held, "kept with its items, and no expiry: it holds until released, as before")
			assert.Equal(t, domain.StatusReleased, e.reservation(t, "gone").Status)

			n, err := e.serviceWithTTL(tinyTTL).ExpireReservations(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "a reservation without expiry never expires")

			for name, stmt := range map[string]string{
				"an unknown status":            `INSERT INTO reservations (order_id, status, fingerprint, created_at, updated_at) VALUES ('x', 'PENDING', '', $1, $1)`,
				"a committed one that expires": `INSERT INTO reservations (order_id, status, fingerprint, expires_at, created_at, updated_at) VALUES ('y', 'COMMITTED', '', $1, $1, $1)`,
			} {
				_, err := db.ExecContext(ctx, stmt, t0)
				require.Error(t, err, name)
				assert.True(t, platformstore.IsCheckViolation(err), "%s: %v", name, err)
			}
			_, err = db.ExecContext(ctx, `DELETE FROM reservations WHERE order_id = 'held'`)
			require.NoError(t, err)
			var items int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM reservation_items`).Scan(&items))
			assert.Zero(t, items, "items still cascade with their reservation")
		})
	}
}
