package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apievents "github.com/slipway-dev/slipway/api/events"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

var (
	t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	t1 = t0.Add(time.Minute)
)

// env is one test's fresh, migrated database and the store over it.
type env struct {
	db      *platformstore.DB
	store   *store.Store
	commits *atomic.Int64 // commit hook calls
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
	require.NoError(t, events.EnsureSchema(t.Context(), db))
	commits := &atomic.Int64{}
	return env{db: db, store: store.New(db, store.WithCommitHook(func() { commits.Add(1) })), commits: commits}
}

func usd(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "USD"} }

// order is a PLACED order of user with key, created at, with two lines,
// its payment authorized: as e.place leaves it.
func order(user, key string, at time.Time) domain.Order {
	id := domain.OrderID(user, key)
	return domain.Order{
		ID:           id,
		UserID:       user,
		Status:       domain.StatusPlaced,
		PaymentState: domain.PaymentAuthorized,
		PaymentID:    "pay-" + id,
		Requested:    []domain.Item{{ProductID: "b-filter", Quantity: 1}, {ProductID: "a-beans", Quantity: 2}},
		Items: []domain.OrderItem{
			{ProductID: "a-beans", Name: "Beans", Quantity: 2, UnitPrice: usd(1250), LineTotal: usd(2500)},
			{ProductID: "b-filter", Name: "Filters", Quantity: 1, UnitPrice: usd(499), LineTotal: usd(499)},
		},
		Total:          usd(2999),
		IdempotencyKey: key,
		Fingerprint:    "fp-" + key,
		CreatedAt:      at,
		UpdatedAt:      at,
	}
}

func placed(o domain.Order) domain.OrderPlaced {
	return domain.OrderPlaced{EventID: "placed-" + o.ID, Order: o, OccurredAt: o.CreatedAt}
}

// pending is o as Create stores it: PENDING, not priced, nothing paid.
func pending(o domain.Order) domain.Order {
	p := o
	p.Status, p.PaymentState, p.PaymentID = domain.StatusPending, domain.PaymentNone, ""
	p.Items, p.Total = nil, domain.Money{}
	return p
}

// place takes o through the saga's first transitions: created, priced,
// placed with its OrderPlaced.
func (e env) place(t *testing.T, o domain.Order) {
	t.Helper()
	require.NoError(t, e.store.Create(t.Context(), pending(o)))
	priced, err := e.store.Price(t.Context(), o)
	require.NoError(t, err)
	require.True(t, priced)
	placed, err := e.store.Place(t.Context(), placed(o))
	require.NoError(t, err)
	require.True(t, placed)
}

// outboxRow is an event as the store left it for the relay.
type outboxRow struct {
	EventID, Subject string
	Payload          []byte
}

func (e env) outbox(t *testing.T) []outboxRow {
	t.Helper()
	rows, err := e.db.QueryContext(t.Context(), `SELECT event_id, subject, payload FROM outbox ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		require.NoError(t, rows.Scan(&r.EventID, &r.Subject, &r.Payload))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func (e env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.QueryRowContext(t.Context(), `SELECT count(*) FROM `+table).Scan(&n))
	return n
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		e.place(t, order("u-1", "key-0001", t0))
		require.NoError(t, e.db.Migrate(t.Context(), store.Migrations()))
		require.NoError(t, events.EnsureSchema(t.Context(), e.db))
		assert.Equal(t, 1, e.count(t, "orders"))
		assert.Len(t, e.outbox(t), 1)
	})
}

func TestPlace(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		o := order("u-1", "key-0001", t0)
		e.place(t, o)

		t.Run("get returns every field", func(t *testing.T) {
			got, err := e.store.Get(ctx, o.ID)
			require.NoError(t, err)
			assert.Equal(t, o, got)
		})
		t.Run("by key returns the same order", func(t *testing.T) {
			got, err := e.store.ByKey(ctx, "u-1", "key-0001")
			require.NoError(t, err)
			assert.Equal(t, o, got)
		})
		t.Run("the key of another user is not found", func(t *testing.T) {
			_, err := e.store.ByKey(ctx, "u-2", "key-0001")
			assert.ErrorIs(t, err, domain.ErrNotFound)
		})
		t.Run("an unknown id is not found", func(t *testing.T) {
			_, err := e.store.Get(ctx, "nope")
			assert.ErrorIs(t, err, domain.ErrNotFound)
		})
		t.Run("the OrderPlaced event is in the outbox", func(t *testing.T) {
			rows := e.outbox(t)
			require.Len(t, rows, 1)
			assert.Equal(t, "placed-"+o.ID, rows[0].EventID)
			assert.Equal(t, apievents.SubjectOrderPlaced, rows[0].Subject)
			var ev orderv1.OrderPlaced
			require.NoError(t, proto.Unmarshal(rows[0].Payload, &ev))
			assert.Equal(t, "placed-"+o.ID, ev.GetEventId())
			assert.Equal(t, o.ID, ev.GetOrderId())
			assert.Equal(t, "u-1", ev.GetUserId())
			assert.Equal(t, int64(2999), ev.GetTotal().GetAmountMinor())
			assert.Equal(t, "USD", ev.GetTotal().GetCurrency())
			require.Len(t, ev.GetItems(), 2)
			assert.Equal(t, "a-beans", ev.GetItems()[0].GetProductId())
			assert.Equal(t, int32(2), ev.GetItems()[0].GetQuantity())
			assert.Equal(t, int64(2500), ev.GetItems()[0].GetLineTotal().GetAmountMinor())
			assert.True(t, ev.GetOccurredAt().AsTime().Equal(t0))
			assert.Equal(t, int64(1), e.commits.Load(), "the relay is woken after the commit")
		})
	})
}

func TestCreateStoresNothingForADuplicate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		first := order("u-1", "key-0001", t0)
		e.place(t, first)

		sameID := pending(order("u-1", "key-0001", t1))
		sameID.Fingerprint = "other"
		sameKey := pending(order("u-1", "key-0001", t1))
		sameKey.ID = "another-id"
		for name, dup := range map[string]domain.Order{"same id": sameID, "same user and key": sameKey} {
			t.Run(name, func(t *testing.T) {
				err := e.store.Create(t.Context(), dup)
				require.ErrorIs(t, err, domain.ErrAlreadyExists)
				got, err := e.store.Get(t.Context(), first.ID)
				require.NoError(t, err)
				assert.Equal(t, first, got)
				assert.Equal(t, 1, e.count(t, "orders"))
				assert.Len(t, e.outbox(t), 1)
			})
		}
		assert.Equal(t, int64(1), e.commits.Load())
	})
}

// The change and its event commit together or not at all.
func TestPlaceIsOneTransaction(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		a := order("u-1", "key-0001", t0)
		e.place(t, a)
		b := order("u-1", "key-0002", t1)
		require.NoError(t, e.store.Create(t.Context(), pending(b)))
		ok, err := e.store.Price(t.Context(), b)
		require.NoError(t, err)
		require.True(t, ok)
		// An event id already in the outbox fails the enqueue, the last step.
		ok, err = e.store.Place(t.Context(), domain.OrderPlaced{EventID: "placed-" + a.ID, Order: b, OccurredAt: t1})
		require.Error(t, err)
		assert.False(t, ok)
		got, err := e.store.Get(t.Context(), b.ID)
		require.NoError(t, err)
		assert.Equal(t, domain.StatusPending, got.Status, "the change rolled back with its event")
		assert.Equal(t, domain.PaymentNone, got.PaymentState)
		assert.Equal(t, int64(1), e.commits.Load(), "no wake-up for a rollback")
	})
}

func TestConcurrentCreatesOfOneKeyStoreOne(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				errs <- e.store.Create(context.Background(), pending(order("u-1", "key-0001", t0.Add(time.Duration(i)*time.Millisecond))))
			}()
		}
		won := 0
		for range n {
			err := <-errs
			if err == nil {
				won++
				continue
			}
			assert.ErrorIs(t, err, domain.ErrAlreadyExists)
		}
		assert.Equal(t, 1, won)
		assert.Equal(t, 1, e.count(t, "orders"))
	})
}

func TestListByUser(t *testing.T) {
	// Fractions of a second of different lengths, whole seconds and ties:
	// the order must hold however each database stores the times.
	times := []time.Time{
		t0.Truncate(time.Second),                      // 0: whole second
		t0.Truncate(time.Second).Add(5 * 1e8),         // 1: .5
		t0.Truncate(time.Second).Add(123456 * 1e3),    // 2: .123456
		t0.Truncate(time.Second).Add(50 * 1e6),        // 3: .05
		t0.Add(time.Hour),                             // 4
		t0.Add(time.Hour),                             // 5: a tie with 4, broken by id
		t0.Add(-24 * time.Hour).Truncate(time.Second), // 6
	}
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		byID := map[string]domain.Order{}
		for i, at := range times {
			o := order("u-1", fmt.Sprintf("key-%04d", i), at)
			e.place(t, o)
			byID[o.ID] = o
		}
		e.place(t, order("u-2", "key-0000", t0.Add(2*time.Hour)))

		var all []domain.Order
		after := domain.Cursor{}
		for range len(times) {
			page, err := e.store.ListByUser(ctx, "u-1", after, 3)
			require.NoError(t, err)
			all = append(all, page...)
			if len(page) < 3 {
				break
			}
			last := page[len(page)-1]
			after = domain.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		require.Len(t, all, len(times), "every order of u-1 once, none of u-2")
		for i := 1; i < len(all); i++ {
			prev, cur := all[i-1], all[i]
			newer := prev.CreatedAt.After(cur.CreatedAt) || (prev.CreatedAt.Equal(cur.CreatedAt) && prev.ID > cur.ID)
			assert.True(t, newer, "%s (%s) lists before %s (%s)", prev.ID, prev.CreatedAt, cur.ID, cur.CreatedAt)
		}
		for _, o := range all {
			assert.Equal(t, byID[o.ID], o, "every field, items included")
		}
		assert.True(t, all[len(all)-1].CreatedAt.Equal(times[6]))
		assert.True(t, all[len(all)-2].CreatedAt.Equal(times[0]))
		assert.True(t, all[len(all)-3].CreatedAt.Equal(times[3]))

		none, err := e.store.ListByUser(ctx, "u-3", domain.Cursor{}, 10)
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func TestCancel(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		o := order("u-1", "key-0001", t0)
		e.place(t, o)
		cancelled := o
		cancelled.Status, cancelled.CancelReason, cancelled.UpdatedAt = domain.StatusCancelled, "changed my mind", t1
		cancelled.PaymentState = domain.PaymentVoided
		ev := domain.OrderCancelled{EventID: "cancelled-" + o.ID, Order: cancelled, Reason: "changed my mind", OccurredAt: t1}

		t.Run("a cancel that expects another payment state changes nothing", func(t *testing.T) {
			ok, err := e.store.Cancel(ctx, ev, domain.PaymentCaptured)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.Len(t, e.outbox(t), 1)
		})
		ok, err := e.store.Cancel(ctx, ev, domain.PaymentAuthorized)
		require.NoError(t, err)
		assert.True(t, ok)
		got, err := e.store.Get(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, cancelled, got)

		rows := e.outbox(t)
		require.Len(t, rows, 2)
		assert.Equal(t, "cancelled-"+o.ID, rows[1].EventID)
		assert.Equal(t, apievents.SubjectOrderCancelled, rows[1].Subject)
		var payload orderv1.OrderCancelled
		require.NoError(t, proto.Unmarshal(rows[1].Payload, &payload))
		assert.Equal(t, o.ID, payload.GetOrderId())
		assert.Equal(t, "u-1", payload.GetUserId())
		assert.Equal(t, "changed my mind", payload.GetReason())
		assert.Len(t, payload.GetItems(), 2)
		assert.Equal(t, int64(2), e.commits.Load())

		t.Run("a second cancel changes nothing", func(t *testing.T) {
			again := ev
			again.EventID, again.Order.UpdatedAt = "cancelled-again", t1.Add(time.Minute)
			ok, err := e.store.Cancel(ctx, again, domain.PaymentVoided)
			require.NoError(t, err)
			assert.False(t, ok)
			got, err := e.store.Get(ctx, o.ID)
			require.NoError(t, err)
			assert.Equal(t, cancelled, got)
			assert.Len(t, e.outbox(t), 2, "no second event")
		})
		t.Run("an unknown order is not cancelled", func(t *testing.T) {
			unknown := ev
			unknown.EventID, unknown.Order.ID = "cancelled-unknown", "nope"
			ok, err := e.store.Cancel(ctx, unknown, domain.PaymentAuthorized)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.Len(t, e.outbox(t), 2)
		})
		assert.Equal(t, int64(2), e.commits.Load())
	})
}

// The database itself refuses what the business never allows, whatever the
// code above it does.
func TestDatabaseRefusesBadOrders(t *testing.T) {
	tests := []struct {
		name, stmt string
		unique     bool
	}{
		{name: "an unknown status", stmt: `UPDATE orders SET status = 'SHIPPED'`},
		{name: "a negative total", stmt: `UPDATE orders SET total_minor = -1`},
		{name: "a negative unit price", stmt: `UPDATE order_items SET unit_price_minor = -1`},
		{name: "a zero quantity", stmt: `UPDATE order_items SET quantity = 0`},
		{name: "an unknown payment state", stmt: `UPDATE orders SET payment_state = 'PENDING'`},
		{name: "a placed order without a currency", stmt: `UPDATE orders SET currency = ''`},
		{name: "a second order for a key", unique: true, stmt: `INSERT INTO orders (id, user_id, idempotency_key,
			request_fingerprint, status, currency, total_minor, created_at, updated_at)
			SELECT 'other', user_id, idempotency_key, request_fingerprint, status, currency, total_minor, created_at, updated_at FROM orders`},
	}
	forEachDialect(t, func(t *testing.T, e env) {
		o := order("u-1", "key-0001", t0)
		e.place(t, o)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.db.ExecContext(t.Context(), tt.stmt)
				require.Error(t, err)
				if tt.unique {
					assert.True(t, platformstore.IsUniqueViolation(err), "want a unique violation, got %v", err)
				} else {
					assert.True(t, platformstore.IsCheckViolation(err), "want a check violation, got %v", err)
				}
				got, err := e.store.Get(t.Context(), o.ID)
				require.NoError(t, err)
				assert.Equal(t, o, got)
			})
		}
	})
}

// A store over a database that fails reports the failure, not a kind.
func TestClosedDatabase(t *testing.T) {
	e := newEnv(t, platformstore.SQLite)
	require.NoError(t, e.db.Close())
	_, err := e.store.Get(t.Context(), "x")
	require.Error(t, err)
	assert.NotErrorIs(t, err, domain.ErrNotFound)
	assert.ErrorContains(t, err, "database is closed")
}
