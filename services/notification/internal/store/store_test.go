package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/store"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

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
			db := storetest.Open(t, d)
			require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
			test(t, env{db: db, store: store.New(db)})
		})
	}
}

// id is the n-th of a series of UUIDv7 ids that sort in n order.
func id(n int) string {
	var u uuid.UUID
	u[6] = 0x70 // version 7
	u[8] = 0x80 // RFC 9562 variant
	u[15] = byte(n)
	u[5] = 1
	return u.String()
}

func notification(n int, userID string) domain.Notification {
	return domain.Notification{
		ID:        id(n),
		UserID:    userID,
		OrderID:   fmt.Sprintf("ord_%d", n),
		Kind:      domain.KindOrderPlaced,
		Title:     "Order placed",
		Body:      fmt.Sprintf("Your order ord_%d for 1 item totalling USD 1.00 is placed.", n),
		EventID:   fmt.Sprintf("evt-%d", n),
		CreatedAt: t0.Add(time.Duration(n) * time.Second),
		Delivery:  domain.DeliveryNone, // as listed when no delivery is queued
	}
}

// create stores ns in one transaction and reports what each create returned.
func (e env) create(t *testing.T, ns ...domain.Notification) []bool {
	t.Helper()
	var created []bool
	err := e.db.InTx(t.Context(), func(tx *sql.Tx) error {
		created = created[:0]
		for _, n := range ns {
			ok, err := e.store.Tx(tx).CreateNotification(t.Context(), n)
			if err != nil {
				return err
			}
			created = append(created, ok)
		}
		return nil
	})
	require.NoError(t, err)
	return created
}

func (e env) list(t *testing.T, userID, beforeID string, limit int) []domain.Notification {
	t.Helper()
	ns, err := e.store.ListByUser(t.Context(), userID, beforeID, limit)
	require.NoError(t, err)
	return ns
}

func ids(ns []domain.Notification) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		e.create(t, notification(1, "u-a"))
		require.NoError(t, e.db.Migrate(t.Context(), store.Migrations()))
		assert.Len(t, e.list(t, "u-a", "", 10), 1)
	})
}

func TestCreateAndList(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		cancelled := notification(2, "u-a")
		cancelled.Kind, cancelled.Title, cancelled.Body = domain.KindOrderCancelled, "Order cancelled", "Your order ord_2 is cancelled."
		created := e.create(t, notification(1, "u-a"), cancelled, notification(3, "u-b"), notification(4, "u-a"))
		assert.Equal(t, []bool{true, true, true, true}, created)

		t.Run("a read returns every field, newest first", func(t *testing.T) {
			got := e.list(t, "u-a", "", 10)
			assert.Equal(t, []domain.Notification{notification(4, "u-a"), cancelled, notification(1, "u-a")}, got)
		})
		t.Run("only the user's own", func(t *testing.T) {
			assert.Equal(t, []string{id(3)}, ids(e.list(t, "u-b", "", 10)))
			assert.Empty(t, e.list(t, "u-c", "", 10))
		})
		t.Run("limit and before page through", func(t *testing.T) {
			assert.Equal(t, []string{id(4), id(2)}, ids(e.list(t, "u-a", "", 2)))
			assert.Equal(t, []string{id(1)}, ids(e.list(t, "u-a", id(2), 2)))
			assert.Empty(t, e.list(t, "u-a", id(1), 2))
		})
	})
}

func TestCreateStoresOneNotificationPerEvent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		first := notification(1, "u-a")
		again := notification(2, "u-a") // a new id and time, the same event
		again.EventID = first.EventID
		assert.Equal(t, []bool{true}, e.create(t, first))
		assert.Equal(t, []bool{false}, e.create(t, again))
		assert.Equal(t, []domain.Notification{first}, e.list(t, "u-a", "", 10), "the first one is kept")
	})
}

func TestConcurrentCreatesOfOneEventStoreOne(t *testing.T) {
	const writers = 8
	forEachDialect(t, func(t *testing.T, e env) {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created int
			errs    []error
		)
		for i := range writers {
			wg.Go(func() {
				n := notification(i+1, "u-a")
				n.EventID = "evt-shared"
				err := e.db.InTx(context.Background(), func(tx *sql.Tx) error {
					ok, err := e.store.Tx(tx).CreateNotification(context.Background(), n)
					if ok {
						mu.Lock()
						created++
						mu.Unlock()
					}
					return err
				})
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
		wg.Wait()
		assert.NoError(t, errors.Join(errs...))
		assert.Equal(t, 1, created)
		assert.Len(t, e.list(t, "u-a", "", 10), 1)
	})
}

func TestCreateRollsBackWithItsTransaction(t *testing.T) {
	errAbort := errors.New("abort")
	forEachDialect(t, func(t *testing.T, e env) {
		err := e.db.InTx(t.Context(), func(tx *sql.Tx) error {
			ok, err := e.store.Tx(tx).CreateNotification(t.Context(), notification(1, "u-a"))
			require.NoError(t, err)
			require.True(t, ok)
			return errAbort
		})
		require.ErrorIs(t, err, errAbort)
		assert.Empty(t, e.list(t, "u-a", "", 10))
		assert.Equal(t, []bool{true}, e.create(t, notification(1, "u-a")), "the event can be stored again")
	})
}

func TestDatabaseRefusesAnUnknownKind(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		n := notification(1, "u-a")
		n.Kind = "ORDER_SHIPPED"
		err := e.db.InTx(t.Context(), func(tx *sql.Tx) error {
			_, err := e.store.Tx(tx).CreateNotification(t.Context(), n)
			return err
		})
		require.Error(t, err)
		assert.True(t, platformstore.IsCheckViolation(err), "want a check violation, got %v", err)
	})
}
