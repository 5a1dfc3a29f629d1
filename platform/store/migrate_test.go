package store_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// migrations builds an fs.FS with the same files for both dialects.
func migrations(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		for _, d := range storetest.Dialects() {
			fsys[string(d)+"/"+name] = &fstest.MapFile{Data: []byte(body)}
		}
	}
	return fsys
}

type appliedRow struct {
	Version int64
	Name    string
}

func applied(t *testing.T, db *store.DB) []appliedRow {
	t.Helper()
	rows, err := db.QueryContext(context.Background(),
		"SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var out []appliedRow
	for rows.Next() {
		var (
			r         appliedRow
			appliedAt any
		)
		require.NoError(t, rows.Scan(&r.Version, &r.Name, &appliedAt))
		assert.NotNil(t, appliedAt)
		out = append(out, r)
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

			fsys := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "README.md": "ignored"})
			require.NoError(t, db.Migrate(ctx, fsys))
			assert.True(t, tableExists(t, db, "products"))
			assert.True(t, tableExists(t, db, "orders"))
			assert.Equal(t, []appliedRow{{1, "init"}, {2, "orders"}}, applied(t, db))

			t.Run("rerun is a no-op", func(t *testing.T) {
				require.NoError(t, db.Migrate(ctx, fsys))
				assert.Equal(t, []appliedRow{{1, "init"}, {2, "orders"}}, applied(t, db))
			})
			t.Run("a new file applies alone", func(t *testing.T) {
				fsys := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3})
				require.NoError(t, db.Migrate(ctx, fsys))
				assert.Equal(t, []appliedRow{{1, "init"}, {2, "orders"}, {3, "note"}}, applied(t, db))
				_, err := db.ExecContext(ctx, "INSERT INTO orders (id, note) VALUES ($1, $2)", "o1", "hi")
				assert.NoError(t, err)
			})
			t.Run("versions applied by a newer release are left alone", func(t *testing.T) {
				require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1})))
				assert.Len(t, applied(t, db), 3)
			})
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
			assert.Equal(t, []appliedRow{{1, "init"}, {2, "orders"}, {3, "note"}}, applied(t, db))
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
			wantErr: "migration version 2 is missing (next is",
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
			files:   map[string]string{"init.sql": m1},
			wantErr: "want NNNN_name.sql",
		},
		{
			name:    "renamed file for an applied version",
			before:  map[string]string{"0001_init.sql": m1},
			files:   map[string]string{"0001_products.sql": m1},
			wantErr: `migration 1 was applied as "init" but the file is now`,
		},
		{
			name:    "failing file is rolled back and not recorded",
			before:  map[string]string{"0001_init.sql": m1},
			files:   map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2 + "\nSELECT * FROM no_such_table;"},
			wantErr: "store: migration",
			check: func(t *testing.T, db *store.DB) {
				assert.Equal(t, []appliedRow{{1, "init"}}, applied(t, db))
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

			t.Run("pending file below an applied version", func(t *testing.T) {
				ctx := context.Background()
				db := storetest.Open(t, d)
				require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1})))
				_, err := db.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (3, 'note')")
				require.NoError(t, err)
				err = db.Migrate(ctx, migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3}))
				require.Error(t, err)
				assert.Contains(t, err.Error(), "0002_orders.sql is pending but the later version 3 is already applied")
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

// A start with every migration applied reads schema_migrations and takes
// no lock, so it does not wait behind another instance's migration; one
// with a file pending still waits for the lock.
func TestMigrateUpToDateTakesNoLock(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d)
			fsys := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2})
			require.NoError(t, db.Migrate(ctx, fsys))

			// Another instance holds the migration lock.
			holder, err := db.Conn(ctx)
			require.NoError(t, err)
			defer holder.Close()
			if d == store.Postgres {
				_, err = holder.ExecContext(ctx, "SELECT pg_advisory_lock($1)", store.MigrationLockKey)
			} else {
				_, err = holder.ExecContext(ctx, "BEGIN IMMEDIATE")
			}
			require.NoError(t, err)

			wait, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			require.NoError(t, db.Migrate(wait, fsys), "nothing to apply: no lock needed")

			pending := migrations(map[string]string{"0001_init.sql": m1, "0002_orders.sql": m2, "0003_note.sql": m3})
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			assert.Error(t, db.Migrate(short, pending), "a pending file waits for the lock")
			assert.Equal(t, []appliedRow{{1, "init"}, {2, "orders"}}, applied(t, db))
			if d == store.Postgres {
				_, err = holder.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", store.MigrationLockKey)
			} else {
				_, err = holder.ExecContext(ctx, "ROLLBACK")
			}
			require.NoError(t, err)
		})
	}
}
