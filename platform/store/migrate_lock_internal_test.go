package store

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openFiles counts this process's file descriptors open on path.
func openFiles(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// A start that gives up waiting for the SQLite migration lock closes its
// connection to the lock file: nothing of it stays open.
func TestSQLiteFileLockGivingUpLeaksNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files in /proc/self/fd")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db-migrate.lock")
	holder := &sqliteFileLock{path: path}
	require.NoError(t, holder.Lock(ctx, nil))
	require.Equal(t, 1, openFiles(t, path), "the holder has the lock file open")

	wait, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	waiter := &sqliteFileLock{path: path}
	err := waiter.Lock(wait, nil)
	require.Error(t, err, "the lock is held")
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// SQLite keeps a closed connection's descriptor while another
	// connection of the process holds a lock on the file: count after.
	require.NoError(t, holder.Unlock(ctx, nil))
	assert.Zero(t, openFiles(t, path), "the waiter's connection to the lock file is closed")
}
