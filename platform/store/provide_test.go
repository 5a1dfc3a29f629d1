package store_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

func TestProvideOpensMigratesAndCloses(t *testing.T) {
	var base config.Base
	base.SetDefaults("widgets", 0, 0)
	base.DatabaseURL = "sqlite://" + filepath.Join(t.TempDir(), "w.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := migrations(map[string]string{"0001_widgets.sql": "CREATE TABLE widgets (id TEXT PRIMARY KEY);"})

	db, cleanup, err := store.Provide(context.Background(), base, telemetry.NewRegistry(), m, logger)
	require.NoError(t, err)
	_, err = db.ExecContext(context.Background(), "INSERT INTO widgets (id) VALUES ('a')")
	assert.NoError(t, err, "the migration ran")

	cleanup()
	assert.Error(t, db.PingContext(context.Background()), "cleanup closed the database")
}

func TestProvideReportsABrokenMigration(t *testing.T) {
	var base config.Base
	base.SetDefaults("widgets", 0, 0)
	base.DatabaseURL = "sqlite://" + filepath.Join(t.TempDir(), "w.db")
	m := migrations(map[string]string{"0001_widgets.sql": "CREATE TABLE widgets (id TEXT PRIMARY KEY);", "0002_broken.sql": "SELECT * FROM no_such_table;"})
	var logs bytes.Buffer

	_, _, err := store.Provide(context.Background(), base, telemetry.NewRegistry(), m, slog.New(slog.NewTextHandler(&logs, nil)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "migrate sqlite database")
	assert.Contains(t, logs.String(), `msg="migration applied" version=1 name=widgets`, "the file before the broken one is logged")
	assert.NotContains(t, logs.String(), "version=2")
}
