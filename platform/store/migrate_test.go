package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"net/url"
	"os"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// migrations builds an fs.FS with the same files for both dialects, each
// with goose's "-- +goose Up" line first.
func migrations(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		for _, d := range storetest.Dialects() {
			fsys[string(d)+"/"+name] = &fstest.MapFile{Data: []byte("-- +goose Up\n" + body)}
		}
	}
	return fsys
}

// applied is the versions goose has recorded, without its version 0.
func applied(t *testing.T, db *store.DB) []int64 {
	t.Helper()
	rows, err := db.QueryContext(context.Background(),
		"SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY version_id")
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

func tableExists(t *testing.T, db *store.DB, table string) bool {
	t.Helper()
	_, err := db.ExecContext(context.Background(), "SELECT 1 FROM "+table)
	return err == nil
}

// Files without IF NOT EXISTS fail when run twice, so a rerun that applies
// anything again is caught.
var (
	m1 = "CREATE TABLE products (id TEXT PRIMARY KEY, stock INTEGER NOT NULL);\nCREATE INDEX products_stock ON products (stock);"
	m2 = "CREATE TABLE orders (id TEXT PRIMARY KEY);"
	m3 = "ALTER TABLE orders ADD COLUMN note TEXT;"
)

func TestMigrate(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d)

			fsys := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2})
			fsys[string(d)+"/README.md"] = &fstest.MapFile{Data: []byte("ignored")}
			ran, err := db.MigrateUp(ctx, fsys)
			require.NoError(t, err)
			assert.Equal(t, []int64{1, 2}, versions(ran), "MigrateUp returns what it applied")
			assert.True(t, tableExists(t, db, "products"))
			assert.True(t, tableExists(t, db, "orders"))
			assert.Equal(t, []int64{1, 2}, applied(t, db))

			t.Run("rerun is a no-op", func(t *testing.T) {
				ran, err := db.MigrateUp(ctx, fsys)
				require.NoError(t, err)
				assert.Empty(t, ran)
				assert.Equal(t, []int64{1, 2}, applied(t, db))
			})
			t.Run("a new file applies alone", func(t *testing.T) {
				fsys := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3})
				ran, err := db.MigrateUp(ctx, fsys)
				require.NoError(t, err)
				assert.Equal(t, []int64{3}, versions(ran))
				assert.Equal(t, []int64{1, 2, 3}, applied(t, db))
				_, err = db.ExecContext(ctx, "INSERT INTO orders (id, note) VALUES ($1, $2)", "o1", "hi")
				assert.NoError(t, err)
			})
			t.Run("versions applied by a newer release are left alone", func(t *testing.T) {
				require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1})))
				assert.Equal(t, []int64{1, 2, 3}, applied(t, db))
			})
		})
	}
}

func versions(ms []store.Migration) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out
}

func TestMigrationStatus(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d)
			all := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3})

			status, err := db.MigrationStatus(ctx, all)
			require.NoError(t, err)
			assert.Equal(t, []store.Migration{
				{Version: 1, Name: "init", State: store.MigrationPending},
				{Version: 2, Name: "orders", State: store.MigrationPending},
				{Version: 3, Name: "note", State: store.MigrationPending},
			}, status, "a new database has every file pending")

			before := time.Now().Add(-time.Minute) // SQLite keeps whole seconds
			require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2})))
			status, err = db.MigrationStatus(ctx, all)
			require.NoError(t, err)
			require.Len(t, status, 3)
			for _, m := range status[:2] {
				assert.Equal(t, store.MigrationApplied, m.State, "version %d", m.Version)
				assert.WithinRange(t, m.AppliedAt, before, time.Now().Add(time.Minute), "version %d", m.Version)
			}
			assert.Equal(t, store.Migration{Version: 3, Name: "note", State: store.MigrationPending}, status[2])
			assert.Equal(t, []int64{1, 2}, applied(t, db), "status applies nothing")
		})
	}
}

func TestMigrateConcurrent(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			fsys := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3})

			const starts = 6
			errs := make([]error, starts)
			var wg sync.WaitGroup
			for i := range starts {
				wg.Go(func() { errs[i] = db.Migrate(context.Background(), fsys) })
			}
			wg.Wait()
			for i, err := range errs {
				assert.NoError(t, err, "start %d", i)
			}
			assert.Equal(t, []int64{1, 2, 3}, applied(t, db))
		})
	}
}

func TestMigrateErrors(t *testing.T) {
	tests := []struct {
		name    string
		before  map[string]string // applied first
		files   map[string]string
		wantErr string
		check   func(t *testing.T, db *store.DB)
	}{
		{
			name:    "gap in versions",
			files:   map[string]string{"0001_init.sql": m1, "0003_note.sql": m3},
			wantErr: "migration version 2 is missing",
		},
		{
			name:    "not starting at 1",
			files:   map[string]string{"0002_orders.sql": m2},
			wantErr: "migration version 1 is missing",
		},
		{
			name:    "same version twice",
			files:   map[string]string{"0001_init.sql": m1, "0001_other.sql": m2},
			wantErr: "have the same version",
		},
		{
			name:    "bad file name",
			files:   map[string]string{"0001_init.sql": m1, "orders.sql": m2},
			wantErr: "want NNNN_name.sql",
		},
		{
			name:    "failing file is rolled back and not recorded",
			before:  map[string]string{"0001_init.sql": m1},
			files:   map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2 + "\nSELECT * FROM no_such_table;"},
			wantErr: "store: migration 0002_orders.sql",
			check: func(t *testing.T, db *store.DB) {
				assert.Equal(t, []int64{1}, applied(t, db))
				assert.False(t, tableExists(t, db, "orders"), "the file's first statement must be rolled back")
			},
		},
	}
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					db := storetest.Open(t, d)
					if tt.before != nil {
						require.NoError(t, db.Migrate(ctx, migrations(tt.before)))
					}
					err := db.Migrate(ctx, migrations(tt.files))
					require.Error(t, err)
					assert.Contains(t, err.Error(), tt.wantErr)
					if tt.check != nil {
						tt.check(t, db)
					}
				})
			}

			t.Run("a failing file comes with the files applied before it", func(t *testing.T) {
				ctx := context.Background()
				db := storetest.Open(t, d)
				ran, err := db.MigrateUp(ctx, migrations(map[string]string{
					"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": "SELECT * FROM no_such_table;",
				}))
				require.Error(t, err)
				assert.Contains(t, err.Error(), "store: migration 0003_note.sql")
				assert.Equal(t, []int64{1, 2}, versions(ran))
				for _, m := range ran {
					assert.Equal(t, store.MigrationApplied, m.State)
					assert.False(t, m.AppliedAt.IsZero(), "version %d has its applied time", m.Version)
				}
				assert.Equal(t, []int64{1, 2}, applied(t, db))
			})
			t.Run("pending file below an applied version", func(t *testing.T) {
				ctx := context.Background()
				db := storetest.Open(t, d)
				require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1})))
				_, err := db.ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (3, true)")
				require.NoError(t, err)
				err = db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3}))
				require.Error(t, err)
				assert.Contains(t, err.Error(), "missing (out-of-order) migration lower than database version (3): version 2")
				assert.False(t, tableExists(t, db, "orders"))
			})
			t.Run("file without the goose Up line", func(t *testing.T) {
				db := storetest.Open(t, d)
				fsys := migrations(map[string]string{"0001_init.sql": m1})
				fsys[string(d)+"/0002_orders.sql"] = &fstest.MapFile{Data: []byte(m2)}
				err := db.Migrate(context.Background(), fsys)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "0002_orders.sql")
				assert.Contains(t, err.Error(), "-- +goose Up")
				assert.False(t, tableExists(t, db, "products"), "nothing runs when a file cannot be read")
			})
			t.Run("no directory for the dialect", func(t *testing.T) {
				db := storetest.Open(t, d)
				err := db.Migrate(context.Background(), fstest.MapFS{"other/0001_init.sql": &fstest.MapFile{}})
				require.Error(t, err)
				assert.Contains(t, err.Error(), "store: read migrations")
			})
		})
	}
}

// lockMigrations takes the migration lock as another instance would, and
// returns its release.
func lockMigrations(t *testing.T, db *store.DB) func() {
	t.Helper()
	ctx := context.Background()
	if db.Dialect == store.Postgres {
		holder, err := db.Conn(ctx)
		require.NoError(t, err)
		_, err = holder.ExecContext(ctx, "SELECT pg_advisory_lock($1)", store.MigrationLockKey)
		require.NoError(t, err)
		return func() {
			_, err := holder.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", store.MigrationLockKey)
			assert.NoError(t, err)
			assert.NoError(t, holder.Close())
		}
	}
	var file string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file))
	lockDB, err := sql.Open("sqlite", file+"-migrate.lock")
	require.NoError(t, err)
	holder, err := lockDB.Conn(ctx)
	require.NoError(t, err)
	_, err = holder.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	return func() {
		_, err := holder.ExecContext(ctx, "ROLLBACK")
		assert.NoError(t, err)
		assert.NoError(t, holder.Close())
		assert.NoError(t, lockDB.Close())
	}
}

// A start with every migration applied reads goose_db_version and takes
// no lock, so it does not wait behind another instance's migration; one
// with a file pending waits for the lock, and runs once it is released.
func TestMigrateLock(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d)
			fsys := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2})
			require.NoError(t, db.Migrate(ctx, fsys))

			release := lockMigrations(t, db)
			wait, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			require.NoError(t, db.Migrate(wait, fsys), "nothing to apply: no lock needed")

			pending := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3})
			short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			defer cancel()
			assert.Error(t, db.Migrate(short, pending), "a pending file waits for the lock")
			assert.Equal(t, []int64{1, 2}, applied(t, db))

			done := make(chan error, 1)
			go func() { done <- db.Migrate(ctx, pending) }()
			time.Sleep(200 * time.Millisecond)
			release()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Migrate did not run after the lock was released")
			}
			assert.Equal(t, []int64{1, 2, 3}, applied(t, db))
		})
	}
}

// A migration may run longer than the pool's statement timeout; the pool
// keeps its timeout afterwards.
func TestMigrateLiftsTheStatementTimeout(t *testing.T) {
	ctx := context.Background()
	created := storetest.Open(t, store.Postgres)
	var name string
	require.NoError(t, created.QueryRowContext(ctx, "SELECT current_database()").Scan(&name))
	u, err := url.Parse(cmp.Or(os.Getenv("POSTGRES_TEST_URL"), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"))
	require.NoError(t, err)
	u.Path = "/" + name
	// One connection: the session that migrates is the one checked after.
	pool := config.DBPool{MaxConns: 1, MinConns: 1, StatementTimeout: 200 * time.Millisecond}
	db, err := store.Open(ctx, u.String(), "storetest", nil, store.WithPool(pool))
	require.NoError(t, err)
	defer db.Close()

	require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_slow.sql": "SELECT pg_sleep(0.5);"})))
	assert.Equal(t, []int64{1}, applied(t, db))
	var timeout string
	require.NoError(t, db.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&timeout))
	assert.Equal(t, "200ms", timeout)
	_, err = db.ExecContext(ctx, "SELECT pg_sleep(0.5)")
	assert.Error(t, err, "the timeout still holds outside migrations")
}

// goose records a file's applied time as now() in the session's time zone
// and reads it as UTC: the migration session runs in UTC, so a database
// whose default zone is not UTC still shows when a file ran, and the
// pool's sessions keep the database's zone afterwards.
func TestMigrateRecordsAppliedTimesInUTC(t *testing.T) {
	ctx := context.Background()
	created := storetest.Open(t, store.Postgres)
	var name string
	require.NoError(t, created.QueryRowContext(ctx, "SELECT current_database()").Scan(&name))
	_, err := created.ExecContext(ctx, "ALTER DATABASE "+name+" SET timezone = 'America/New_York'")
	require.NoError(t, err)
	u, err := url.Parse(cmp.Or(os.Getenv("POSTGRES_TEST_URL"), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"))
	require.NoError(t, err)
	u.Path = "/" + name
	// One connection: the session that migrates is the one checked after.
	db, err := store.Open(ctx, u.String(), "storetest", nil, store.WithPool(config.DBPool{MaxConns: 1, MinConns: 1}))
	require.NoError(t, err)
	defer db.Close()

	legacyApply(t, db, 1, "init", m1)
	_, err = db.ExecContext(ctx, "UPDATE schema_migrations SET applied_at = now()")
	require.NoError(t, err)
	all := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2})
	ran, err := db.MigrateUp(ctx, all)
	require.NoError(t, err)
	assert.Equal(t, []int64{2}, versions(ran))

	status, err := db.MigrationStatus(ctx, all)
	require.NoError(t, err)
	require.Len(t, status, 2)
	for _, m := range status {
		assert.Equal(t, store.MigrationApplied, m.State)
		assert.WithinDuration(t, time.Now(), m.AppliedAt, time.Minute, "version %d (adopted or run by goose) shows its time in UTC", m.Version)
	}
	var zone string
	require.NoError(t, db.QueryRowContext(ctx, "SHOW TimeZone").Scan(&zone))
	assert.Equal(t, "America/New_York", zone, "the pool's session gets the database's zone back")
}
