package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

const schema = `CREATE TABLE items (
	id    TEXT PRIMARY KEY,
	sku   TEXT NOT NULL UNIQUE,
	stock INTEGER NOT NULL CHECK (stock >= 0)
);`

func openWithItems(t *testing.T, d store.Dialect) *store.DB {
	t.Helper()
	db := storetest.Open(t, d)
	require.NoError(t, db.Migrate(context.Background(), migrations(map[string]string{"0001_items.sql": schema})))
	return db
}

func countItems(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT count(*) FROM items").Scan(&n))
	return n
}

func insertItem(ctx context.Context, tx *sql.Tx, id, sku string, stock int) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO items (id, sku, stock) VALUES ($1, $2, $3)", id, sku, stock)
	return err
}

func TestInTx(t *testing.T) {
	errBoom := errors.New("boom")
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()

			t.Run("commits", func(t *testing.T) {
				db := openWithItems(t, d)
				err := db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, "a", "A", 1) })
				require.NoError(t, err)
				assert.Equal(t, 1, countItems(t, db))
			})
			t.Run("rolls back on error and returns it unchanged", func(t *testing.T) {
				db := openWithItems(t, d)
				calls := 0
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					calls++
					require.NoError(t, insertItem(ctx, tx, "a", "A", 1))
					return fmt.Errorf("reserve: %w", errBoom)
				})
				require.ErrorIs(t, err, errBoom)
				assert.Equal(t, "reserve: boom", err.Error())
				assert.Equal(t, 1, calls, "ordinary errors are not retried")
				assert.Equal(t, 0, countItems(t, db))
			})
			t.Run("rolls back on panic", func(t *testing.T) {
				db := openWithItems(t, d)
				assert.PanicsWithValue(t, "bug", func() {
					_ = db.InTx(ctx, func(tx *sql.Tx) error {
						require.NoError(t, insertItem(ctx, tx, "a", "A", 1))
						panic("bug")
					})
				})
				assert.Equal(t, 0, countItems(t, db))
				// The connection went back to the pool usable.
				require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, "b", "B", 1) }))
				assert.Equal(t, 1, countItems(t, db))
			})
			t.Run("retries serialization failures and deadlocks", func(t *testing.T) {
				db := openWithItems(t, d)
				calls := 0
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					calls++
					if err := insertItem(ctx, tx, "a", "A", 1); err != nil {
						return err
					}
					switch calls {
					case 1:
						return &pgconn.PgError{Code: "40001"}
					case 2:
						return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40P01"})
					}
					return nil
				})
				require.NoError(t, err)
				assert.Equal(t, 3, calls)
				assert.Equal(t, 1, countItems(t, db), "failed attempts were rolled back")
			})
			t.Run("retries are bounded", func(t *testing.T) {
				db := openWithItems(t, d)
				calls := 0
				err := db.InTx(ctx, func(*sql.Tx) error {
					calls++
					return &pgconn.PgError{Code: "40001"}
				})
				require.Error(t, err)
				assert.Equal(t, 5, calls)
				var pgErr *pgconn.PgError
				require.ErrorAs(t, err, &pgErr)
				assert.Equal(t, "40001", pgErr.Code)
				assert.Contains(t, err.Error(), "gave up after 5 attempts")
			})
			t.Run("stops retrying when ctx is done", func(t *testing.T) {
				db := openWithItems(t, d)
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				calls := 0
				err := db.InTx(ctx, func(*sql.Tx) error {
					calls++
					cancel()
					return &pgconn.PgError{Code: "40001"}
				})
				require.ErrorIs(t, err, context.Canceled)
				var pgErr *pgconn.PgError
				assert.ErrorAs(t, err, &pgErr, "the last database error is kept")
				assert.Equal(t, 1, calls)
			})
			t.Run("begin fails on a done ctx", func(t *testing.T) {
				db := openWithItems(t, d)
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				called := false
				err := db.InTx(ctx, func(*sql.Tx) error { called = true; return nil })
				require.ErrorIs(t, err, context.Canceled)
				assert.False(t, called)
			})
		})
	}
}

func TestConstraintViolations(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := openWithItems(t, d)
			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, "a", "A", 1) }))

			tests := []struct {
				name       string
				id, sku    string
				stock      int
				wantUnique bool
				wantCheck  bool
			}{
				{name: "primary key", id: "a", sku: "B", stock: 1, wantUnique: true},
				{name: "unique column", id: "b", sku: "A", stock: 1, wantUnique: true},
				{name: "check", id: "c", sku: "C", stock: -1, wantCheck: true},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					err := db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, tt.id, tt.sku, tt.stock) })
					require.Error(t, err)
					assert.Equal(t, tt.wantUnique, store.IsUniqueViolation(err), "unique: %v", err)
					assert.Equal(t, tt.wantCheck, store.IsCheckViolation(err), "check: %v", err)
					wrapped := fmt.Errorf("create item: %w", err)
					assert.Equal(t, tt.wantUnique, store.IsUniqueViolation(wrapped))
					assert.Equal(t, tt.wantCheck, store.IsCheckViolation(wrapped))
				})
			}
			t.Run("other errors", func(t *testing.T) {
				_, err := db.ExecContext(ctx, "INSERT INTO no_such_table VALUES (1)")
				require.Error(t, err)
				for _, e := range []error{nil, errors.New("plain"), err} {
					assert.False(t, store.IsUniqueViolation(e), "%v", e)
					assert.False(t, store.IsCheckViolation(e), "%v", e)
				}
			})
		})
	}
}
