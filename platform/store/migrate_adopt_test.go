package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// legacyTable is schema_migrations as the runner before goose created it.
var legacyTable = map[store.Dialect]string{
	store.Postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`,
	store.SQLite: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	)`,
}

// legacyAppliedAt is when the old runner applied the files, as it wrote it.
var legacyAppliedAt = map[store.Dialect]string{
	store.Postgres: "2025-01-02 03:04:05.678+00",
	store.SQLite:   "2025-01-02T03:04:05.678Z",
}

// legacyApply does what the runner before goose did for one file: run it
// and record it in schema_migrations.
func legacyApply(t *testing.T, db *store.DB, version int64, name, body string) {
	t.Helper()
	ctx := context.Background()
	_, err := db.ExecContext(ctx, legacyTable[db.Dialect])
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, body)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
		version, name, legacyAppliedAt[db.Dialect])
	require.NoError(t, err)
}

func legacyVersions(t *testing.T, db *store.DB) []int64 {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

// A database the old runner migrated starts on goose without running a
// file again: m1 and m2 fail when run twice.
func TestMigrateAdoptsTheOldRunnersDatabase(t *testing.T) {
	all := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3})
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			t.Run("applied versions are recorded, with when, and the rest runs", func(t *testing.T) {
				db := storetest.Open(t, d)
				legacyApply(t, db, 1, "init", m1)
				legacyApply(t, db, 2, "orders", m2)

				ran, err := db.MigrateUp(ctx, all)
				require.NoError(t, err)
				assert.Equal(t, []int64{3}, versions(ran), "only the file the old runner had not applied runs")
				assert.Equal(t, []int64{1, 2, 3}, applied(t, db))
				assert.Equal(t, []int64{1, 2}, legacyVersions(t, db), "schema_migrations is left as it was")

				status, err := db.MigrationStatus(ctx, all)
				require.NoError(t, err)
				want := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
				for _, m := range status[:2] {
					assert.Equal(t, store.MigrationApplied, m.State)
					assert.WithinDuration(t, want, m.AppliedAt, time.Second, "version %d keeps the old applied_at", m.Version)
				}
				assert.Equal(t, store.MigrationApplied, status[2].State)

				require.NoError(t, db.Migrate(ctx, all), "a second start adopts nothing more")
				assert.Equal(t, []int64{1, 2, 3}, applied(t, db))
			})
			t.Run("a file the old release applied after the first goose start is caught up", func(t *testing.T) {
				db := storetest.Open(t, d)
				legacyApply(t, db, 1, "init", m1)
				require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1})))
				legacyApply(t, db, 2, "orders", m2) // an old instance, in a rolling upgrade

				require.NoError(t, db.Migrate(ctx, all))
				assert.Equal(t, []int64{1, 2, 3}, applied(t, db))
			})
			t.Run("a version applied under another name is an error", func(t *testing.T) {
				db := storetest.Open(t, d)
				legacyApply(t, db, 1, "init", m1)

				err := db.Migrate(ctx, migrations(map[string]string{"0001_products.sql": m1}))
				require.Error(t, err)
				assert.Contains(t, err.Error(), `migration 1 was applied as "init" but the file is now "products"`)
				assert.False(t, tableExists(t, db, "goose_db_version"), "nothing is adopted")
			})
			t.Run("concurrent starts adopt once", func(t *testing.T) {
				db := storetest.Open(t, d)
				legacyApply(t, db, 1, "init", m1)
				legacyApply(t, db, 2, "orders", m2)

				const starts = 6
				errs := make([]error, starts)
				var wg sync.WaitGroup
				for i := range starts {
					wg.Go(func() { errs[i] = db.Migrate(ctx, all) })
				}
				wg.Wait()
				for i, err := range errs {
					assert.NoError(t, err, "start %d", i)
				}
				assert.Equal(t, []int64{1, 2, 3}, applied(t, db), "each version recorded once")
			})
		})
	}
}
