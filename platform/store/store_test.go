package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "nested", "data")
	db, err := store.Open(ctx, "sqlite://"+filepath.ToSlash(filepath.Join(dir, "user.db")), "user", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	assert.Equal(t, store.SQLite, db.Dialect)
	assert.DirExists(t, dir, "Open creates the parent directory")
	assert.FileExists(t, filepath.Join(dir, "user.db"))

	pragmas := []struct {
		name string
		want string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"}, // DB_STATEMENT_TIMEOUT's default
		{"foreign_keys", "1"},
	}
	for _, p := range pragmas {
		t.Run(p.name, func(t *testing.T) {
			// Every pooled connection must have the pragma, so hold several.
			for range 3 {
				conn, err := db.Conn(ctx)
				require.NoError(t, err)
				defer conn.Close()
				var got string
				require.NoError(t, conn.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&got))
				assert.Equal(t, p.want, got)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		url     string
		wantErr string
		hidden  string
	}{
		{name: "unknown scheme", url: "mysql://root:pw@db/shop", wantErr: `scheme "mysql"`, hidden: "pw"},
		{name: "sqlite without path", url: "sqlite://", wantErr: "has no file path"},
		{name: "unreachable postgres", url: "postgres://app:hunter2@127.0.0.1:1/shop?sslmode=disable&connect_timeout=2", wantErr: "store: connect to postgres", hidden: "hunter2"},
		{name: "malformed postgres url", url: "postgres://app:hunter2@127.0.0.1:notaport/shop", wantErr: "store: ", hidden: "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := store.Open(ctx, tt.url, "order", prometheus.NewRegistry())
			require.Error(t, err)
			assert.Nil(t, db)
			assert.Contains(t, err.Error(), tt.wantErr)
			if tt.hidden != "" {
				assert.NotContains(t, err.Error(), tt.hidden)
			}
		})
	}

	t.Run("sqlite directory cannot be created", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := store.Open(ctx, "sqlite://"+filepath.ToSlash(filepath.Join(file, "sub", "x.db")), "order", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "create directory")
	})
}

func TestPing(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			assert.Equal(t, d, db.Dialect)
			require.NoError(t, db.Ping(context.Background()))

			require.NoError(t, db.Close())
			err := db.Ping(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "store: ping "+string(d))
		})
	}
}

// sample is one gathered metric value and its service label.
type sample struct {
	value   float64
	service string
}

// gather returns the samples of the named metric family, keyed by their
// state label ("" when the metric has none).
func gather(t *testing.T, reg *prometheus.Registry, name string) map[string]sample {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]sample{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var state, service string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "state":
					state = l.GetValue()
				case "service":
					service = l.GetValue()
				}
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[state] = sample{value: v, service: service}
		}
	}
	return out
}

func TestPoolMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	url := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "order.db"))
	db, err := store.Open(ctx, url, "order", reg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	conn, err := db.Conn(ctx) // one connection in use
	require.NoError(t, err)

	conns := gather(t, reg, "slipway_db_connections")
	require.Len(t, conns, 3)
	for state, s := range conns {
		assert.Equal(t, "order", s.service, state)
	}
	assert.InDelta(t, 1, conns["in_use"].value, 0)
	assert.InDelta(t, conns["in_use"].value+conns["idle"].value, conns["open"].value, 0)
	assert.Positive(t, conns["open"].value)

	maxOpen := gather(t, reg, "slipway_db_max_open_connections")
	require.Len(t, maxOpen, 1)
	assert.Positive(t, maxOpen[""].value)

	for _, name := range []string{"slipway_db_wait_count_total", "slipway_db_wait_duration_seconds_total"} {
		m := gather(t, reg, name)
		require.Len(t, m, 1, name)
		assert.Equal(t, "order", m[""].service, name)
	}

	// With the only connection held, a query has to wait for it.
	db.SetMaxOpenConns(1)
	done := make(chan error)
	go func() {
		var one int
		done <- db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}()
	require.Eventually(t, func() bool { return db.Stats().WaitCount == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, conn.Close())
	require.NoError(t, <-done)

	assert.InDelta(t, 1, gather(t, reg, "slipway_db_wait_count_total")[""].value, 0)
	assert.GreaterOrEqual(t, gather(t, reg, "slipway_db_wait_duration_seconds_total")[""].value, 0.01)
	assert.InDelta(t, 1, gather(t, reg, "slipway_db_max_open_connections")[""].value, 0)
	assert.InDelta(t, 0, gather(t, reg, "slipway_db_connections")["in_use"].value, 0, "read at scrape time")

	t.Run("second pool for the same service is refused", func(t *testing.T) {
		_, err := store.Open(ctx, url, "order", reg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `register pool metrics for service "order"`)
	})
	t.Run("close unregisters", func(t *testing.T) {
		require.NoError(t, db.Close())
		assert.Empty(t, gather(t, reg, "slipway_db_connections"))
		again, err := store.Open(ctx, url, "order", reg)
		require.NoError(t, err)
		assert.NoError(t, again.Close())
	})
}
