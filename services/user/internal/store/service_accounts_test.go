package store_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/password"
	"github.com/slipway-dev/slipway/services/user/internal/store"
)

// migrationsUpTo is the dialect's migrations numbered up to last, as a tree
// DB.Migrate reads, so a test can build the schema an older release left.
func migrationsUpTo(t *testing.T, dialect platformstore.Dialect, last string) fs.FS {
	t.Helper()
	entries, err := fs.ReadDir(store.Migrations, string(dialect))
	require.NoError(t, err)
	tree := fstest.MapFS{}
	for _, e := range entries {
		if e.Name()[:4] > last {
			continue
		}
		path := string(dialect) + "/" + e.Name()
		data, err := fs.ReadFile(store.Migrations, path)
		require.NoError(t, err)
		tree[path] = &fstest.MapFile{Data: data}
	}
	return tree
}

// The service role arrives by a migration that keeps every existing account
// and still refuses roles the domain does not know.
func TestServiceRoleMigration(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(string(dialect), func(t *testing.T) {
			db := storetest.Open(t, dialect)
			require.NoError(t, db.Migrate(t.Context(), migrationsUpTo(t, dialect, "0001")))
			users := store.NewUsers(db)
			before := newUser(t, "before")
			before.Role = domain.RoleAdmin
			require.NoError(t, users.Create(t.Context(), before))
			early := newUser(t, "order")
			early.Role = domain.RoleService
			require.Error(t, users.Create(t.Context(), early), "0001 knows no service role")

			require.NoError(t, db.Migrate(t.Context(), store.Migrations))

			got, err := users.ByID(t.Context(), before.ID)
			require.NoError(t, err)
			assert.Equal(t, before, got, "an account from before the migration is kept as it was")

			service := newUser(t, "order")
			service.Role = domain.RoleService
			require.NoError(t, users.Create(t.Context(), service))
			got, err = users.ByEmail(t.Context(), service.Email)
			require.NoError(t, err)
			assert.Equal(t, domain.RoleService, got.Role)

			root := newUser(t, "root")
			root.Role = "root"
			err = users.Create(t.Context(), root)
			require.Error(t, err)
			assert.True(t, platformstore.IsCheckViolation(err), "err: %v", err)

			dup := newUser(t, "before")
			assert.ErrorIs(t, users.Create(t.Context(), dup), domain.ErrAlreadyExists, "emails stay unique after the rebuild")
		})
	}
}

// tokenOf is a TokenIssuer whose token names the account and its role.
type tokenOf struct{}

func (tokenOf) Issue(_ context.Context, u domain.User) (domain.Token, error) {
	return domain.Token{Value: u.ID + "/" + string(u.Role)}, nil
}

// EnsureServiceAccount over the real store: idempotent, rotates the
// password, and the account logs in with role service.
func TestServiceAccountOverStore(t *testing.T) {
	hasher := password.New(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	for _, dialect := range storetest.Dialects() {
		t.Run(string(dialect), func(t *testing.T) {
			db := storetest.Open(t, dialect)
			require.NoError(t, db.Migrate(t.Context(), store.Migrations))
			svc := domain.NewUserService(store.NewUsers(db), hasher, tokenOf{})
			ctx := t.Context()

			first, err := svc.EnsureServiceAccount(ctx, "order", "first-password")
			require.NoError(t, err)
			assert.Equal(t, "order@service.slipway.local", first.Email)
			assert.Equal(t, domain.RoleService, first.Role)

			again, err := svc.EnsureServiceAccount(ctx, "order", "first-password")
			require.NoError(t, err)
			assert.Equal(t, first, again, "ensuring again changes nothing")
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'service'`).Scan(&n))
			assert.Equal(t, 1, n)

			session, err := svc.Login(ctx, domain.Credentials{Email: "order@service.slipway.local", Password: "first-password"})
			require.NoError(t, err)
			assert.Equal(t, first.ID+"/service", session.Token.Value, "the token carries role service")

			rotated, err := svc.EnsureServiceAccount(ctx, "order", "second-password")
			require.NoError(t, err)
			assert.Equal(t, first.ID, rotated.ID, "a rotation keeps the account")
			_, err = svc.Login(ctx, domain.Credentials{Email: "order@service.slipway.local", Password: "first-password"})
			assert.ErrorIs(t, err, domain.ErrInvalidCredentials, "the old password stops working")
			_, err = svc.Login(ctx, domain.Credentials{Email: "order@service.slipway.local", Password: "second-password"})
			assert.NoError(t, err)

			_, err = svc.Register(ctx, domain.Registration{Email: "billing@service.slipway.local", Password: "correct horse", DisplayName: "B"})
			assert.Error(t, err, "registration cannot take a service address")
			_, err = svc.Login(ctx, domain.Credentials{Email: "billing@service.slipway.local", Password: "correct horse"})
			assert.ErrorIs(t, err, domain.ErrInvalidCredentials)
		})
	}
}
