package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"deadlock", fmt.Errorf("x: %w", &pgconn.PgError{Code: "40P01"}), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"plain", fmt.Errorf("nope"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, isRetryable(tt.err))
		})
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt < 10; attempt++ {
		want := min(txBaseBackoff<<(attempt-1), txMaxBackoff)
		for range 20 {
			got := backoff(attempt)
			assert.GreaterOrEqual(t, got, want/2, "attempt %d", attempt)
			assert.Less(t, got, want, "attempt %d", attempt)
		}
	}
}

// TestConnBackoffOutlastsARestartAndAnswersSoonAfter pins the lost
// connection schedule: its shortest total outlasts a PostgreSQL restart
// that refuses connections for 2.8 s, and no wait is longer than 250 ms, so
// a call waiting out the restart is answered soon after the server is back.
func TestConnBackoffOutlastsARestartAndAnswersSoonAfter(t *testing.T) {
	var shortest, longest time.Duration
	for attempt := 1; attempt < connMaxAttempts; attempt++ {
		want := min(connBaseBackoff<<(attempt-1), connMaxBackoff)
		shortest += want / 2
		longest += want
		for range 20 {
			got := connBackoff(attempt)
			assert.GreaterOrEqual(t, got, want/2, "attempt %d", attempt)
			assert.LessOrEqual(t, got, 250*time.Millisecond, "attempt %d", attempt)
		}
	}
	assert.GreaterOrEqual(t, shortest, 2800*time.Millisecond, "the retries may give up before a restart ends")
	assert.LessOrEqual(t, longest, 6*time.Second, "the retries hold a call far past any restart")
}

// TestInTxRetriesSQLiteBusy holds SQLite's write lock from one pool while
// another pool, with no busy timeout, starts a transaction: BEGIN IMMEDIATE
// fails with SQLITE_BUSY and InTx must retry until the lock is released.
func TestInTxRetriesSQLiteBusy(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "busy.db"))
	holder, err := Open(ctx, url, "holder", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Close() })
	_, err = holder.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
	require.NoError(t, err)

	waiter, err := Open(ctx, url, "waiter", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = waiter.Close() })
	waiter.SetMaxOpenConns(1) // so the pragma below holds for every query
	_, err = waiter.ExecContext(ctx, "PRAGMA busy_timeout = 0")
	require.NoError(t, err)

	lock, err := holder.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
	require.NoError(t, err)

	_, err = waiter.BeginTx(ctx, nil)
	require.Error(t, err, "the lock must be held")
	require.True(t, isRetryable(err), "SQLITE_BUSY must be retryable: %v", err)

	released := make(chan struct{})
	go func() {
		time.Sleep(30 * time.Millisecond)
		assert.NoError(t, lock.Rollback())
		close(released)
	}()
	err = waiter.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t (id) VALUES (1)")
		return err
	})
	<-released
	require.NoError(t, err)
	var n int
	require.NoError(t, waiter.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n))
	assert.Equal(t, 1, n)
}
