package store_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
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

// Every transition moves the order only from the state it expects, so of
// two drivers one wins and the other changes nothing (and stores no event).
func TestTransitionsAreGuarded(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		o := order("u-1", "key-0001", t0)
		require.NoError(t, e.store.Create(ctx, pending(o)))
		got, err := e.store.Get(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, pending(o), got, "created PENDING with what it asks for, unpriced")

		step := func(name string, want bool, run func() (bool, error)) {
			t.Helper()
			ok, err := run()
			require.NoError(t, err, name)
			assert.Equal(t, want, ok, name)
		}
		step("captured while pending", false, func() (bool, error) { return e.store.Captured(ctx, o.ID, t1) })
		step("placed unpriced", false, func() (bool, error) { return e.store.Place(ctx, placed(o)) })
		step("priced", true, func() (bool, error) { return e.store.Price(ctx, o) })
		step("priced again", false, func() (bool, error) { return e.store.Price(ctx, o) })
		assert.Equal(t, 2, e.count(t, "order_items"), "the lines once")
		step("placed", true, func() (bool, error) { return e.store.Place(ctx, placed(o)) })
		step("placed again", false, func() (bool, error) { return e.store.Place(ctx, placed(o)) })
		failed := o
		failed.Status, failed.FailureReason = domain.StatusFailed, "late"
		step("failed once placed", false, func() (bool, error) {
			return e.store.Fail(ctx, domain.OrderFailed{EventID: "failed-" + o.ID, Order: failed, Reason: "late", OccurredAt: t1})
		})
		step("released while placed", false, func() (bool, error) { return e.store.Released(ctx, o.ID, t1) })
		step("captured", true, func() (bool, error) { return e.store.Captured(ctx, o.ID, t1) })
		step("captured again", false, func() (bool, error) { return e.store.Captured(ctx, o.ID, t1) })
		step("cancel begun", true, func() (bool, error) { return e.store.RequestCancel(ctx, o.ID, "why", t1) })
		step("cancel begun again", false, func() (bool, error) { return e.store.RequestCancel(ctx, o.ID, "other", t1) })

		got, err = e.store.Get(ctx, o.ID)
		require.NoError(t, err)
		want := o
		want.PaymentState, want.CancelRequested, want.CancelReason, want.UpdatedAt = domain.PaymentCaptured, true, "why", t1
		assert.Equal(t, want, got)
		assert.Len(t, e.outbox(t), 1, "one OrderPlaced, nothing else")
		assert.Equal(t, int64(1), e.commits.Load())
	})
}

func TestFail(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		o := order("u-1", "key-0001", t0)
		require.NoError(t, e.store.Create(ctx, pending(o)))
		failed := pending(o)
		failed.Status, failed.PaymentState, failed.FailureReason, failed.UpdatedAt =
			domain.StatusFailed, domain.PaymentDeclined, "payment declined: insufficient funds", t1
		ev := domain.OrderFailed{EventID: "failed-" + o.ID, Order: failed, Reason: failed.FailureReason, OccurredAt: t1}

		ok, err := e.store.Fail(ctx, ev)
		require.NoError(t, err)
		require.True(t, ok)
		got, err := e.store.Get(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, failed, got, "an order may fail unpriced")

		rows := e.outbox(t)
		require.Len(t, rows, 1)
		assert.Equal(t, apievents.SubjectOrderFailed, rows[0].Subject)
		var payload orderv1.OrderFailed
		require.NoError(t, proto.Unmarshal(rows[0].Payload, &payload))
		assert.Equal(t, o.ID, payload.GetOrderId())
		assert.Equal(t, "u-1", payload.GetUserId())
		assert.Equal(t, failed.FailureReason, payload.GetReason())
		assert.Empty(t, payload.GetItems())
		assert.Nil(t, payload.GetTotal(), "an order that failed unpriced has no total, not an empty one (which consumers refuse)")
		assert.True(t, payload.GetOccurredAt().AsTime().Equal(t1))
		assert.Equal(t, int64(1), e.commits.Load())

		ok, err = e.store.Fail(ctx, domain.OrderFailed{EventID: "failed-again", Order: failed, Reason: "again", OccurredAt: t1})
		require.NoError(t, err)
		assert.False(t, ok, "a FAILED order fails once")
		assert.Len(t, e.outbox(t), 1)

		ok, err = e.store.Released(ctx, o.ID, t1.Add(time.Second))
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = e.store.Released(ctx, o.ID, t1.Add(time.Second))
		require.NoError(t, err)
		assert.False(t, ok)
		got, err = e.store.Get(ctx, o.ID)
		require.NoError(t, err)
		assert.True(t, got.StockReleased)
	})
}

// Unfinished lists what has a step left and rested long enough; Claim
// leases one to one caller at a time.
func TestUnfinishedAndClaim(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		ctx := t.Context()
		// created PENDING
		created := order("u-1", "key-0001", t0)
		require.NoError(t, e.store.Create(ctx, pending(created)))
		// placed, authorized
		authorized := order("u-1", "key-0002", t0)
		e.place(t, authorized)
		// placed and captured: done
		captured := order("u-1", "key-0003", t0)
		e.place(t, captured)
		ok, err := e.store.Captured(ctx, captured.ID, t0)
		require.NoError(t, err)
		require.True(t, ok)
		// captured, cancel begun
		cancelling := order("u-1", "key-0004", t0)
		e.place(t, cancelling)
		_, err = e.store.Captured(ctx, cancelling.ID, t0)
		require.NoError(t, err)
		ok, err = e.store.RequestCancel(ctx, cancelling.ID, "", t0)
		require.NoError(t, err)
		require.True(t, ok)
		// failed, stock held
		failing := pending(order("u-1", "key-0005", t0))
		require.NoError(t, e.store.Create(ctx, failing))
		failed := failing
		failed.Status = domain.StatusFailed
		ok, err = e.store.Fail(ctx, domain.OrderFailed{EventID: "f5", Order: failed, Reason: "x", OccurredAt: t0})
		require.NoError(t, err)
		require.True(t, ok)
		// failed and released: done
		released := pending(order("u-1", "key-0006", t0))
		require.NoError(t, e.store.Create(ctx, released))
		released.Status = domain.StatusFailed
		_, err = e.store.Fail(ctx, domain.OrderFailed{EventID: "f6", Order: released, Reason: "x", OccurredAt: t0})
		require.NoError(t, err)
		ok, err = e.store.Released(ctx, released.ID, t0)
		require.NoError(t, err)
		require.True(t, ok)

		ids := func(orders []domain.Order) []string {
			out := make([]string, len(orders))
			for i, o := range orders {
				out[i] = o.ID
			}
			return out
		}
		list, err := e.store.Unfinished(ctx, t0.Add(time.Second), 10)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{created.ID, authorized.ID, cancelling.ID, failing.ID}, ids(list))

		none, err := e.store.Unfinished(ctx, t0, 10)
		require.NoError(t, err)
		assert.Empty(t, none, "nothing rested long enough")
		two, err := e.store.Unfinished(ctx, t0.Add(time.Second), 2)
		require.NoError(t, err)
		assert.Len(t, two, 2)

		now := t0.Add(time.Second)
		ok, err = e.store.Claim(ctx, created.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = e.store.Claim(ctx, created.ID, now.Add(time.Second), now.Add(time.Minute))
		require.NoError(t, err)
		assert.False(t, ok, "leased to the first")
		list, err = e.store.Unfinished(ctx, now.Add(time.Second), 10)
		require.NoError(t, err)
		assert.NotContains(t, ids(list), created.ID, "a leased order is not listed")
		ok, err = e.store.Claim(ctx, created.ID, now.Add(2*time.Minute), now.Add(3*time.Minute))
		require.NoError(t, err)
		assert.True(t, ok, "a lease that ran out is taken over")
	})
}

// Migration 0002 keeps every order stored before it, with its lines: they
// read back as they were, with no payment, and nothing to recover.
func TestMigrationKeepsTheOrdersOfBefore(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			db := storetest.Open(t, d)
			require.NoError(t, db.Migrate(ctx, only0001(t, d)))
			_, err := db.ExecContext(ctx, `INSERT INTO orders (id, user_id, idempotency_key, request_fingerprint, status,
				currency, total_minor, cancel_reason, created_at, updated_at)
				VALUES ('o1', 'u1', 'key-0001', 'fp', 'CANCELLED', 'USD', 2500, 'no', $1, $2)`, t0, t1)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, `INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_minor, line_total_minor)
				VALUES ('o1', 'beans', 'Beans', 2, 1250, 2500)`)
			require.NoError(t, err)

			require.NoError(t, db.Migrate(ctx, store.Migrations()))
			require.NoError(t, events.EnsureSchema(ctx, db))
			s := store.New(db)
			got, err := s.Get(ctx, "o1")
			require.NoError(t, err)
			assert.Equal(t, domain.Order{
				ID: "o1", UserID: "u1", Status: domain.StatusCancelled, PaymentState: domain.PaymentNone,
				Items:          []domain.OrderItem{{ProductID: "beans", Name: "Beans", Quantity: 2, UnitPrice: usd(1250), LineTotal: usd(2500)}},
				Total:          usd(2500),
				IdempotencyKey: "key-0001", Fingerprint: "fp", CancelReason: "no", CreatedAt: t0, UpdatedAt: t1,
			}, got)
			unfinished, err := s.Unfinished(ctx, t1.Add(time.Hour), 10)
			require.NoError(t, err)
			assert.Empty(t, unfinished)

			_, err = db.ExecContext(ctx, `DELETE FROM orders WHERE id = 'o1'`)
			require.NoError(t, err)
			var lines int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM order_items`).Scan(&lines))
			assert.Zero(t, lines, "the lines still follow their order")
		})
	}
}

// only0001 is the order migrations of dialect d up to 0001.
func only0001(t *testing.T, d platformstore.Dialect) fs.FS {
	t.Helper()
	files := fstest.MapFS{}
	require.NoError(t, fs.WalkDir(store.Migrations(), string(d), func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() || !strings.Contains(path, "0001_") {
			return err
		}
		b, err := fs.ReadFile(store.Migrations(), path)
		files[path] = &fstest.MapFile{Data: b}
		return err
	}))
	require.Len(t, files, 1)
	return files
}

// Of instances claiming one order at once, one gets it.
func TestConcurrentClaimsLeaseOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e env) {
		o := pending(order("u-1", "key-0001", t0))
		require.NoError(t, e.store.Create(t.Context(), o))
		const n = 8
		won := make(chan bool, n)
		for range n {
			go func() {
				ok, err := e.store.Claim(context.Background(), o.ID, t1, t1.Add(time.Minute))
				assert.NoError(t, err)
				won <- ok
			}()
		}
		claims := 0
		for range n {
			if <-won {
				claims++
			}
		}
		assert.Equal(t, 1, claims)
	})
}
