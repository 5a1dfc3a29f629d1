package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
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
		})
	}
}

var created = time.Date(2026, 3, 1, 12, 30, 45, 123456000, time.UTC)

// newPayment returns a payment of owner with a fresh UUIDv7 id.
func newPayment(t *testing.T, owner, name string) domain.Payment {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return domain.Payment{ID: id.String(), OwnerID: owner, Name: name, CreatedAt: created}
}

func suite(t *testing.T, db *platformstore.DB) {
	payments := store.NewPayments(db)

	t.Run("create then get", func(t *testing.T) {
		want := newPayment(t, "user-alice", "first")
		require.NoError(t, payments.Create(t.Context(), want))

		got, err := payments.Get(t.Context(), want.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.True(t, got.CreatedAt.Equal(created), "created_at keeps microseconds: %v", got.CreatedAt)
	})

	t.Run("a taken id is AlreadyExists", func(t *testing.T) {
		first := newPayment(t, "user-alice", "first")
		require.NoError(t, payments.Create(t.Context(), first))
		again := first
		again.Name = "again"
		require.ErrorIs(t, payments.Create(t.Context(), again), domain.ErrAlreadyExists)

		got, err := payments.Get(t.Context(), first.ID)
		require.NoError(t, err)
		assert.Equal(t, "first", got.Name, "the duplicate changed nothing")
	})

	t.Run("an unknown id is NotFound", func(t *testing.T) {
		_, err := payments.Get(t.Context(), "no-such-id")
		assert.ErrorIs(t, err, domain.ErrNotFound)
	})

	t.Run("an empty name is refused by the schema", func(t *testing.T) {
		err := payments.Create(t.Context(), newPayment(t, "user-alice", ""))
		require.Error(t, err)
		assert.True(t, platformstore.IsCheckViolation(err), "err: %v", err)
	})

	t.Run("an owner's listing pages in id order and holds only theirs", func(t *testing.T) {
		var want []domain.Payment
		for i := range 5 {
			payment := newPayment(t, "user-carol", fmt.Sprintf("carol %d", i))
			require.NoError(t, payments.Create(t.Context(), payment))
			want = append(want, payment)
			require.NoError(t, payments.Create(t.Context(), newPayment(t, "user-dave", fmt.Sprintf("dave %d", i))))
		}

		first, err := payments.ListByOwner(t.Context(), "user-carol", "", 3)
		require.NoError(t, err)
		assert.Equal(t, want[:3], first)

		rest, err := payments.ListByOwner(t.Context(), "user-carol", first[2].ID, 3)
		require.NoError(t, err)
		assert.Equal(t, want[3:], rest)

		none, err := payments.ListByOwner(t.Context(), "user-nobody", "", 3)
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}
