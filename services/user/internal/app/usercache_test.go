package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/cache/redistest"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/user/internal/config"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/password"
	"github.com/slipway-dev/slipway/services/user/internal/store"
)

// cachedService is the user domain over a real store and the cache
// newUserCache builds from cfg.
func cachedService(t *testing.T, db *platformstore.DB, cfg *config.Config, logger *slog.Logger) *domain.UserService {
	t.Helper()
	require.NoError(t, db.Migrate(t.Context(), store.Migrations))
	c, closeCache, err := newUserCache(cfg, logger, prometheus.NewRegistry())
	require.NoError(t, err)
	t.Cleanup(closeCache)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	svc, err := newUserService(t.Context(), cfg, logger, store.NewUsers(db),
		password.New(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		newTokenIssuer(auth.NewSigner(key, "slipway", time.Hour)), c, domain.Limits{})
	require.NoError(t, err)
	return svc
}

// GetUser and GetMe read through the cache, and promoting the account
// (a role change and a new password, one committed update) invalidates it:
// read, update, read gives the new account, on both databases and both
// caches.
func TestUserCacheIsInvalidatedByAnUpdate(t *testing.T) {
	redisURL, _ := redistest.URL(t)
	for _, dialect := range storetest.Dialects() {
		for backend, url := range map[string]string{"memory": "", "redis": redisURL} {
			t.Run(string(dialect)+"/"+backend, func(t *testing.T) {
				cfg := config.New()
				cfg.RedisURL = url
				db := storetest.Open(t, dialect)
				svc := cachedService(t, db, cfg, slog.New(slog.DiscardHandler))
				ctx := t.Context()

				u, err := svc.Register(ctx, domain.Registration{Email: "alice-" + string(dialect) + "@example.com", Password: "correct horse", DisplayName: "Alice"})
				require.NoError(t, err)
				if url != "" {
					t.Cleanup(func() { dropRedisKey(t, url, "slipway:"+userCacheName+":"+u.ID) })
				}
				admin := domain.Caller{UserID: "0195518e-0000-7000-8000-00000000000a", Role: domain.RoleAdmin}

				got, err := svc.GetUser(ctx, admin, u.ID)
				require.NoError(t, err)
				assert.Equal(t, domain.RoleCustomer, got.Role)
				assert.Empty(t, got.PasswordHash, "lookups never carry the hash")

				// Behind the service's back: a cached read does not see it.
				_, err = db.ExecContext(ctx, `UPDATE users SET display_name = $1 WHERE id = $2`, "Changed", u.ID)
				require.NoError(t, err)
				got, err = svc.GetMe(ctx, domain.Caller{UserID: u.ID, Role: domain.RoleCustomer})
				require.NoError(t, err)
				assert.Equal(t, "Alice", got.DisplayName, "served from the cache")

				// Through the service: the update invalidates.
				_, err = svc.EnsureAdmin(ctx, u.Email, "a new password")
				require.NoError(t, err)
				got, err = svc.GetUser(ctx, admin, u.ID)
				require.NoError(t, err)
				assert.Equal(t, domain.RoleAdmin, got.Role, "the update is read back")
				assert.Equal(t, "Changed", got.DisplayName, "and the whole row with it")
			})
		}
	}
}

// dropRedisKey deletes a key the test made outside a redistest prefix.
func dropRedisKey(t *testing.T, url, key string) {
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer func() { _ = c.Close() }()
	assert.NoError(t, c.Del(context.Background(), key).Err())
}

// USER_CACHE_TTL=0 turns the cache off: every lookup reads the database.
func TestUserCacheOff(t *testing.T) {
	cfg := config.New()
	cfg.UserCacheTTL = 0
	db := storetest.Open(t, platformstore.SQLite)
	c, _, err := newUserCache(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	assert.Nil(t, c)
	svc := cachedService(t, db, cfg, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	u, err := svc.Register(ctx, domain.Registration{Email: "bob@example.com", Password: "correct horse", DisplayName: "Bob"})
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `UPDATE users SET display_name = $1 WHERE id = $2`, "Robert", u.ID)
	require.NoError(t, err)
	got, err := svc.GetMe(ctx, domain.Caller{UserID: u.ID, Role: domain.RoleCustomer})
	require.NoError(t, err)
	assert.Equal(t, "Robert", got.DisplayName)
}

// With Redis unreachable, lookups answer from the database and a failed
// invalidation is logged, not returned: the update stands.
func TestUserCacheWithRedisDown(t *testing.T) {
	var logs bytes.Buffer
	cfg := config.New()
	cfg.RedisURL = "redis://127.0.0.1:1/0" // nothing listens on port 1
	db := storetest.Open(t, platformstore.SQLite)
	svc := cachedService(t, db, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := t.Context()

	u, err := svc.Register(ctx, domain.Registration{Email: "carol@example.com", Password: "correct horse", DisplayName: "Carol"})
	require.NoError(t, err)
	got, err := svc.GetMe(ctx, domain.Caller{UserID: u.ID, Role: domain.RoleCustomer})
	require.NoError(t, err)
	assert.Equal(t, "Carol", got.DisplayName)

	_, err = svc.EnsureAdmin(ctx, u.Email, "a new password")
	require.NoError(t, err, "the update does not fail on the cache")
	got, err = svc.GetMe(ctx, domain.Caller{UserID: u.ID, Role: domain.RoleAdmin})
	require.NoError(t, err)
	assert.Equal(t, domain.RoleAdmin, got.Role)
	assert.Contains(t, logs.String(), "user cache invalidation failed")
	assert.Contains(t, logs.String(), "redis unavailable")
}
