package domain_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/cache"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/password"
)

// memoryCache is the platform's cache-aside in memory as the domain's port.
type memoryCache struct{ *cache.Aside[domain.User] }

func (c memoryCache) Invalidate(ctx context.Context, id string) { _ = c.Aside.Invalidate(ctx, id) }

// withCache is f's service again, reading accounts through an in-memory
// cache.
func withCache(t *testing.T, f *fixture) {
	t.Helper()
	aside, err := cache.NewAside[domain.User](cache.NewMemory(100), "users", time.Minute, prometheus.NewRegistry())
	require.NoError(t, err)
	f.svc = domain.NewUserService(f.store, f.hasher, f.tokens, domain.WithCache(memoryCache{aside}))
}

// Lookups read the store once and then the cache, and never return the
// password hash; every committed update makes the next lookup read the
// store again.
func TestLookupsReadThroughTheCache(t *testing.T) {
	self := fixedID.String()
	me := domain.Caller{UserID: self, Role: domain.RoleCustomer}
	admin := domain.Caller{UserID: otherID, Role: domain.RoleAdmin}

	t.Run("one store read for many lookups, without the hash", func(t *testing.T) {
		f := newFixture(t, nil)
		withCache(t, f)
		alice := account(t, f.hasher, domain.RoleCustomer, "correct horse")
		f.store.EXPECT().ByID(gomock.Any(), self).Return(alice, nil).Times(1)
		want := alice
		want.PasswordHash = ""
		for _, get := range []func() (domain.User, error){
			func() (domain.User, error) { return f.svc.GetUser(t.Context(), me, self) },
			func() (domain.User, error) { return f.svc.GetMe(t.Context(), me) },
			func() (domain.User, error) { return f.svc.GetUser(t.Context(), admin, self) },
		} {
			got, err := get()
			require.NoError(t, err)
			assert.Equal(t, want, got)
		}
	})

	t.Run("a missing account is not cached", func(t *testing.T) {
		f := newFixture(t, nil)
		withCache(t, f)
		f.store.EXPECT().ByID(gomock.Any(), self).Return(domain.User{}, domain.ErrNotFound).Times(2)
		for range 2 {
			_, err := f.svc.GetMe(t.Context(), me)
			assert.ErrorIs(t, err, domain.ErrNotFound)
		}
	})

	t.Run("a role change invalidates", func(t *testing.T) {
		f := newFixture(t, nil)
		withCache(t, f)
		alice := account(t, f.hasher, domain.RoleCustomer, "correct horse")
		promoted := alice
		promoted.Role = domain.RoleAdmin
		gomock.InOrder(
			f.store.EXPECT().ByID(gomock.Any(), self).Return(alice, nil),
			f.store.EXPECT().ByEmail(gomock.Any(), alice.Email).Return(alice, nil),
			f.store.EXPECT().Update(gomock.Any(), gomock.Any()).Return(nil),
			f.store.EXPECT().ByID(gomock.Any(), self).Return(promoted, nil),
		)
		got, err := f.svc.GetMe(t.Context(), me)
		require.NoError(t, err)
		require.Equal(t, domain.RoleCustomer, got.Role)
		_, err = f.svc.EnsureAdmin(t.Context(), alice.Email, "correct horse")
		require.NoError(t, err)
		got, err = f.svc.GetMe(t.Context(), me)
		require.NoError(t, err)
		assert.Equal(t, domain.RoleAdmin, got.Role)
	})

	t.Run("a failed update keeps the cache", func(t *testing.T) {
		f := newFixture(t, nil)
		withCache(t, f)
		alice := account(t, f.hasher, domain.RoleCustomer, "correct horse")
		f.store.EXPECT().ByID(gomock.Any(), self).Return(alice, nil).Times(1)
		f.store.EXPECT().ByEmail(gomock.Any(), alice.Email).Return(alice, nil)
		f.store.EXPECT().Update(gomock.Any(), gomock.Any()).Return(errDisk)
		_, err := f.svc.GetMe(t.Context(), me)
		require.NoError(t, err)
		_, err = f.svc.EnsureAdmin(t.Context(), alice.Email, "correct horse")
		require.ErrorIs(t, err, errDisk)
		got, err := f.svc.GetMe(t.Context(), me)
		require.NoError(t, err)
		assert.Equal(t, domain.RoleCustomer, got.Role, "nothing changed, nothing to read again")
	})

	t.Run("a password rehash at login invalidates", func(t *testing.T) {
		old := password.New(password.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
		f := newFixture(t, nil)
		withCache(t, f)
		alice := account(t, old, domain.RoleCustomer, "correct horse")
		f.store.EXPECT().ByID(gomock.Any(), self).Return(alice, nil).Times(2)
		f.store.EXPECT().ByEmail(gomock.Any(), alice.Email).Return(alice, nil)
		f.store.EXPECT().Update(gomock.Any(), gomock.Any()).Return(nil)
		f.tokens.EXPECT().Issue(gomock.Any(), gomock.Any()).Return(domain.Token{Value: "t"}, nil)
		_, err := f.svc.GetMe(t.Context(), me)
		require.NoError(t, err)
		_, err = f.svc.Login(t.Context(), domain.Credentials{Email: alice.Email, Password: "correct horse"})
		require.NoError(t, err)
		_, err = f.svc.GetMe(t.Context(), me)
		require.NoError(t, err)
	})
}
