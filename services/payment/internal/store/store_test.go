package store_test

import (
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/sandbox"
	"github.com/slipway-dev/slipway/services/payment/internal/store"
)

// TestPayments is the store suite; every dialect runs it on a database of
// its own (PostgreSQL is skipped when unreachable, unless CI=true).
func TestPayments(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(string(dialect), func(t *testing.T) {
			db := storetest.Open(t, dialect)
			require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
			suite(t, db)
			ledger(t, db)
		})
	}
}

// TestLedgerMigrationIsTheSandboxSchema keeps migration 0002 what the
// sandbox provider says its ledger needs.
func TestLedgerMigrationIsTheSandboxSchema(t *testing.T) {
	for _, dialect := range []platformstore.Dialect{platformstore.SQLite, platformstore.Postgres} {
		t.Run(string(dialect), func(t *testing.T) {
			want, err := sandbox.Schema(dialect)
			require.NoError(t, err)
			got, err := fs.ReadFile(store.Migrations(), string(dialect)+"/0002_sandbox_ledger.sql")
			require.NoError(t, err)
			assert.Equal(t, want, string(got))
		})
	}
}

var created = time.Date(2026, 3, 1, 12, 30, 45, 123456000, time.UTC)

// newPayment returns a PENDING payment of user for order with a fresh
// UUIDv7 id.
func newPayment(t *testing.T, user, order string) domain.Payment {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return domain.Payment{
		ID: id.String(), OrderID: order, UserID: user, Amount: domain.Money{Currency: "USD", AmountMinor: 1999},
		State: domain.StatePending, Provider: "sandbox", PaymentMethod: "pm_card_visa", IdempotencyKey: order + ":authorize",
		CreatedAt: created, UpdatedAt: created,
	}
}

func suite(t *testing.T, db *platformstore.DB) {
	payments := store.NewPayments(db)

	t.Run("create then get by id and by order", func(t *testing.T) {
		want := newPayment(t, "user-alice", "order-1")
		require.NoError(t, payments.Create(t.Context(), want))

		got, err := payments.Get(t.Context(), want.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.True(t, got.CreatedAt.Equal(created), "created_at keeps microseconds: %v", got.CreatedAt)

		byOrder, err := payments.GetByOrder(t.Context(), "order-1")
		require.NoError(t, err)
		assert.Equal(t, want, byOrder)
	})

	t.Run("a second payment for an order is AlreadyExists", func(t *testing.T) {
		first := newPayment(t, "user-alice", "order-2")
		require.NoError(t, payments.Create(t.Context(), first))
		again := newPayment(t, "user-alice", "order-2")
		again.Amount.AmountMinor = 5
		require.ErrorIs(t, payments.Create(t.Context(), again), domain.ErrAlreadyExists)

		got, err := payments.GetByOrder(t.Context(), "order-2")
		require.NoError(t, err)
		assert.Equal(t, first, got, "the duplicate changed nothing")
	})

	t.Run("an unknown id or order is NotFound", func(t *testing.T) {
		_, err := payments.Get(t.Context(), "no-such-id")
		require.ErrorIs(t, err, domain.ErrNotFound)
		_, err = payments.GetByOrder(t.Context(), "no-such-order")
		assert.ErrorIs(t, err, domain.ErrNotFound)
	})

	schemaRefuses := []struct {
		name   string
		change func(*domain.Payment)
	}{
		{"a zero amount", func(p *domain.Payment) { p.Amount.AmountMinor = 0 }},
		{"an unknown state", func(p *domain.Payment) { p.State = "LOST" }},
		{"an empty idempotency key", func(p *domain.Payment) { p.IdempotencyKey = "" }},
		{"a two-letter currency", func(p *domain.Payment) { p.Amount.Currency = "US" }},
	}
	for i, tt := range schemaRefuses {
		t.Run(tt.name+" is refused by the schema", func(t *testing.T) {
			p := newPayment(t, "user-alice", fmt.Sprintf("order-bad-%d", i))
			tt.change(&p)
			err := payments.Create(t.Context(), p)
			require.Error(t, err)
			assert.True(t, platformstore.IsCheckViolation(err), "err: %v", err)
		})
	}

	t.Run("a transition is guarded by the state it leaves", func(t *testing.T) {
		p := newPayment(t, "user-alice", "order-3")
		require.NoError(t, payments.Create(t.Context(), p))

		authorized := p
		authorized.State, authorized.ProviderRef, authorized.UpdatedAt = domain.StateAuthorized, "pi_1", created.Add(time.Second)
		require.NoError(t, payments.Transition(t.Context(), authorized, domain.StatePending))

		declined := p
		declined.State, declined.DeclineCode = domain.StateDeclined, "card_declined"
		require.ErrorIs(t, payments.Transition(t.Context(), declined, domain.StatePending), domain.ErrConflict,
			"the payment left PENDING already")

		got, err := payments.Get(t.Context(), p.ID)
		require.NoError(t, err)
		assert.Equal(t, authorized, got)
	})

	t.Run("of concurrent transitions from one state exactly one wins", func(t *testing.T) {
		p := newPayment(t, "user-alice", "order-4")
		p.State = domain.StateAuthorized
		require.NoError(t, payments.Create(t.Context(), p))
		captured := p
		captured.State = domain.StateCaptured

		const racers = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for range racers {
			wg.Go(func() {
				err := payments.Transition(t.Context(), captured, domain.StateAuthorized)
				if err != nil {
					assert.ErrorIs(t, err, domain.ErrConflict)
					return
				}
				mu.Lock()
				wins++
				mu.Unlock()
			})
		}
		wg.Wait()
		assert.Equal(t, 1, wins)
	})

	t.Run("a user's listing pages newest first and holds only theirs", func(t *testing.T) {
		var want []domain.Payment
		for i := range 5 {
			p := newPayment(t, "user-carol", fmt.Sprintf("order-carol-%d", i))
			require.NoError(t, payments.Create(t.Context(), p))
			want = append([]domain.Payment{p}, want...)
			require.NoError(t, payments.Create(t.Context(), newPayment(t, "user-dave", fmt.Sprintf("order-dave-%d", i))))
		}

		first, err := payments.ListByUser(t.Context(), "user-carol", "", 3)
		require.NoError(t, err)
		assert.Equal(t, want[:3], first)

		rest, err := payments.ListByUser(t.Context(), "user-carol", first[2].ID, 3)
		require.NoError(t, err)
		assert.Equal(t, want[3:], rest)

		none, err := payments.ListByUser(t.Context(), "user-nobody", "", 3)
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

// ledger runs the sandbox provider on the SQL ledger the migrations
// created, as the app wires it.
func ledger(t *testing.T, db *platformstore.DB) {
	t.Run("the sandbox keeps its ledger in the service's database", func(t *testing.T) {
		psp, err := sandbox.New(sandbox.NewSQLLedger(db), sandbox.WithLatency(sandbox.Latency{}))
		require.NoError(t, err)
		req := provider.AuthorizeRequest{IdempotencyKey: "o-ledger:authorize", OrderID: "o-ledger", UserID: "u", Amount: 500, Currency: "USD", PaymentMethod: "pm_card_visa"}
		auth, err := psp.Authorize(t.Context(), req)
		require.NoError(t, err)
		require.NoError(t, psp.Capture(t.Context(), "o-ledger:capture", auth.Ref, 500))

		restarted, err := sandbox.New(sandbox.NewSQLLedger(db), sandbox.WithLatency(sandbox.Latency{}))
		require.NoError(t, err)
		again, err := restarted.Authorize(t.Context(), req)
		require.NoError(t, err)
		assert.Equal(t, auth.Ref, again.Ref, "a replay after a restart answers the stored authorization")
		got, err := restarted.Payment(t.Context(), auth.Ref)
		require.NoError(t, err)
		assert.Equal(t, provider.StatusCaptured, got.Status)
	})
}

// TestVoidedUnpaid: an order voided before it had a payment is recorded
// once, however often it is voided, on every dialect.
func TestVoidedUnpaid(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(string(dialect), func(t *testing.T) {
			db := storetest.Open(t, dialect)
			require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
			s := store.NewPayments(db)
			voided, err := s.VoidedUnpaid(t.Context(), "o-1")
			require.NoError(t, err)
			assert.False(t, voided)
			at := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
			require.NoError(t, s.VoidUnpaid(t.Context(), "o-1", at))
			require.NoError(t, s.VoidUnpaid(t.Context(), "o-1", at.Add(time.Second)), "a second void is no error")
			voided, err = s.VoidedUnpaid(t.Context(), "o-1")
			require.NoError(t, err)
			assert.True(t, voided)
			voided, err = s.VoidedUnpaid(t.Context(), "o-2")
			require.NoError(t, err)
			assert.False(t, voided, "another order is not voided")
		})
	}
}
