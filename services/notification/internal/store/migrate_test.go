package store_test

import (
	"database/sql"
	"io/fs"
	"path"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
	"github.com/slipway-dev/slipway/services/notification/internal/store"
)

// migrationsBefore is store.Migrations without version (its four digits)
// and the ones after it.
func migrationsBefore(t *testing.T, version string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(store.Migrations(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Base(p) >= version {
			return err
		}
		data, err := fs.ReadFile(store.Migrations(), p)
		out[p] = &fstest.MapFile{Data: data}
		return err
	})
	require.NoError(t, err)
	return out
}

// Migration 0003 lets notifications be ORDER_FAILED, and keeps every
// notification and delivery stored before it (SQLite rebuilds both tables:
// no ON DELETE CASCADE may fire on the way).
func TestMigrationToOrderFailedKeepsWhatWasStored(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			require.NoError(t, db.Migrate(t.Context(), migrationsBefore(t, "0003")))
			e := env{db: db, store: store.New(db)}
			failed := notification(3, "u-a")
			failed.Kind, failed.Title, failed.Body = domain.KindOrderFailed, "Order failed", "Your order ord_3 failed and was not placed."
			err := e.db.InTx(t.Context(), func(tx *sql.Tx) error {
				_, err := e.store.Tx(tx).CreateNotification(t.Context(), failed)
				return err
			})
			require.Error(t, err, "before 0003 the schema refuses the kind")

			e.create(t, notification(1, "u-a"))
			queued := notification(2, "u-a")
			e.enqueue(t, t.Context(), queued)
			before := e.row(t, queued.ID)

			require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
			assert.Equal(t, []string{id(2), id(1)}, ids(e.list(t, "u-a", "", 10)), "every notification stays")
			assert.Equal(t, before, e.row(t, queued.ID), "its delivery stays queued")
			assert.Equal(t, []bool{true}, e.create(t, failed))
			assert.Equal(t, []bool{false}, e.create(t, failed), "event ids stay unique")
			assert.Equal(t, []string{id(3), id(2), id(1)}, ids(e.list(t, "u-a", "", 10)))
			e.enqueue(t, t.Context(), notification(4, "u-a"))
			assert.Equal(t, domain.DeliveryPending, e.row(t, id(4)).State, "deliveries reference the new table")
		})
	}
}
