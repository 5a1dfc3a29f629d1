package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/store"
)

// TestUsers is the repository suite; every dialect runs it on a database of its own.
func TestUsers(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(string(dialect), func(t *testing.T) {
			db := storetest.Open(t, dialect)
			require.NoError(t, db.Migrate(t.Context(), store.Migrations))
			suite(t, db)
		})
	}
}

var created = time.Date(2026, 3, 1, 12, 30, 45, 123456000, time.UTC)

// newUser returns a customer with a fresh id and an email unique to n.
func newUser(t *testing.T, n string) domain.User {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return domain.User{
		ID:           id.String(),
		Email:        n + "@example.com",
		DisplayName:  "User " + n,
		Role:         domain.RoleCustomer,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		CreatedAt:    created,
	}
}

func suite(t *testing.T, db *platformstore.DB) {
	users := store.NewUsers(db)

	t.Run("create then read by id and by email", func(t *testing.T) {
		u := newUser(t, "alice")
		require.NoError(t, users.Create(t.Context(), u))

		byID, err := users.ByID(t.Context(), u.ID)
		require.NoError(t, err)
		assert.Equal(t, u, byID)
		assert.True(t, byID.CreatedAt.Equal(created), "created_at keeps microseconds: %v", byID.CreatedAt)

		byEmail, err := users.ByEmail(t.Context(), u.Email)
		require.NoError(t, err)
		assert.Equal(t, u, byEmail)
	})

	t.Run("a taken email is AlreadyExists", func(t *testing.T) {
		first := newUser(t, "bob")
		require.NoError(t, users.Create(t.Context(), first))

		again := newUser(t, "bob")
		err := users.Create(t.Context(), again)
		require.ErrorIs(t, err, domain.ErrAlreadyExists)

		_, err = users.ByID(t.Context(), again.ID)
		assert.ErrorIs(t, err, domain.ErrNotFound, "the duplicate was not stored")
	})

	t.Run("an upper-case email is refused by the schema", func(t *testing.T) {
		u := newUser(t, "Carol")
		err := users.Create(t.Context(), u)
		require.Error(t, err)
		assert.True(t, platformstore.IsCheckViolation(err), "err: %v", err)
	})

	t.Run("missing accounts are NotFound", func(t *testing.T) {
		_, err := users.ByID(t.Context(), uuid.NewString())
		assert.ErrorIs(t, err, domain.ErrNotFound)
		_, err = users.ByEmail(t.Context(), "nobody@example.com")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		err = users.Update(t.Context(), newUser(t, "ghost"))
		assert.ErrorIs(t, err, domain.ErrNotFound)
	})

	t.Run("update changes role, name and hash only", func(t *testing.T) {
		u := newUser(t, "dave")
		require.NoError(t, users.Create(t.Context(), u))

		changed := u
		changed.Role = domain.RoleAdmin
		changed.DisplayName = "Dave the Admin"
		changed.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$bmV3aGFzaG5ld2hhc2huZXdoYXNo"
		changed.Email = "someone-else@example.com" // not updatable
		changed.CreatedAt = created.Add(time.Hour) // not updatable
		require.NoError(t, users.Update(t.Context(), changed))

		got, err := users.ByID(t.Context(), u.ID)
		require.NoError(t, err)
		assert.Equal(t, domain.RoleAdmin, got.Role)
		assert.Equal(t, changed.DisplayName, got.DisplayName)
		assert.Equal(t, changed.PasswordHash, got.PasswordHash)
		assert.Equal(t, u.Email, got.Email)
		assert.True(t, got.CreatedAt.Equal(u.CreatedAt))
	})

	t.Run("concurrent registrations of one email: exactly one wins", func(t *testing.T) {
		const racers = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
			errs []error
		)
		for range racers {
			wg.Go(func() {
				err := users.Create(t.Context(), newUser(t, "erin"))
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, wins)
		for _, err := range errs {
			assert.ErrorIs(t, err, domain.ErrAlreadyExists)
		}
	})

	t.Run("migrating again changes nothing", func(t *testing.T) {
		require.NoError(t, db.Migrate(t.Context(), store.Migrations))
		_, err := users.ByEmail(t.Context(), "alice@example.com")
		assert.NoError(t, err)
	})

	t.Run("many accounts", func(t *testing.T) {
		for i := range 20 {
			require.NoError(t, users.Create(t.Context(), newUser(t, fmt.Sprintf("bulk-%02d", i))))
		}
		got, err := users.ByEmail(t.Context(), "bulk-07@example.com")
		require.NoError(t, err)
		assert.Equal(t, "User bulk-07", got.DisplayName)
	})
}
