package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrationLockKey is the PostgreSQL advisory lock that serialises
// migrations across instances starting at once ("slipway" in ASCII).
// The runner before goose took the same key, so an old and a new release
// starting together wait for each other. Advisory locks are per database,
// so services sharing a cluster do not block each other.
const migrationLockKey int64 = 0x736c6970776179

// lockWaitSeconds is how long a start waits for another instance's
// migrations, polling once a second; ctx may end the wait sooner.
const lockWaitSeconds = 3600

// migrateLocker returns goose's dialect and the lock that serialises
// migration runs on it.
//
// PostgreSQL uses goose's session locker (pg_try_advisory_lock on the
// connection goose runs the files on) rather than its table locker: the
// services connect straight to PostgreSQL, so a session outlives the run,
// and a crashed instance's lock goes with its connection instead of
// blocking starts until a lease runs out.
func (db *DB) migrateLocker(ctx context.Context) (goose.Dialect, []goose.ProviderOption, error) {
	switch db.Dialect {
	case Postgres:
		l, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockKey), lock.WithLockTimeout(1, lockWaitSeconds))
		if err != nil {
			return "", nil, fmt.Errorf("store: migration lock: %w", err)
		}
		return goose.DialectPostgres, []goose.ProviderOption{goose.WithSessionLocker(untimedSession{l})}, nil
	case SQLite:
		var path string
		if err := db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
			return "", nil, fmt.Errorf("store: migration lock: find the database file: %w", err)
		}
		if path == "" {
			// In memory: one connection (Open), which nothing else can reach.
			return goose.DialectSQLite3, nil, nil
		}
		return goose.DialectSQLite3, []goose.ProviderOption{goose.WithLocker(&sqliteFileLock{path: path + "-migrate.lock"})}, nil
	}
	return "", nil, fmt.Errorf("store: migrate: unknown dialect %q", db.Dialect)
}

// untimedSession lifts statement_timeout on the session that holds the
// lock and runs the files: a migration may rewrite a large table, which is
// not a runaway statement. It also sets the session's time zone to UTC:
// goose records a file's tstamp (timestamp without time zone) as now() in
// the session's zone, and reads it back as UTC, as adoptCopy writes it.
// RESET gives the session back the pool's timeout (Open sets it as a
// connection parameter) and the database's zone before goose returns it.
type untimedSession struct{ lock.SessionLocker }

// SessionLock implements lock.SessionLocker.
func (s untimedSession) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if err := s.SessionLocker.SessionLock(ctx, conn); err != nil {
		return err
	}
	for _, set := range []string{"SET statement_timeout = 0", "SET TIME ZONE 'UTC'"} {
		if _, err := conn.ExecContext(ctx, set); err != nil {
			return errors.Join(fmt.Errorf("set up the migration session: %s: %w", set, err),
				s.SessionUnlock(context.WithoutCancel(ctx), conn))
		}
	}
	return nil
}

// SessionUnlock implements lock.SessionLocker.
func (s untimedSession) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "RESET statement_timeout")
	_, errZone := conn.ExecContext(ctx, "RESET TIME ZONE")
	return errors.Join(err, errZone, s.SessionLocker.SessionUnlock(ctx, conn))
}

// sqliteFileLock is the migration lock on SQLite: a write transaction held
// on a lock file beside the database. SQLite lets one writer at a time into
// a file, across connections and processes, and the operating system
// drops the lock with a process that dies. The database file itself cannot
// serve: the migrations write to it while the lock is held.
type sqliteFileLock struct {
	path string
	db   *sql.DB // open while the lock is held
	conn *sql.Conn
}

// Lock implements lock.Locker; it waits until ctx ends.
func (l *sqliteFileLock) Lock(ctx context.Context, _ *sql.DB) error {
	db, err := sql.Open("sqlite", l.path+"?_pragma=busy_timeout(1000)")
	if err != nil {
		return fmt.Errorf("store: open the migration lock %s: %w", l.path, err)
	}
	conn, err := db.Conn(ctx)
	for err == nil {
		if _, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err == nil {
			l.db, l.conn = db, conn
			return nil
		}
		if sqliteLocked(err) && ctx.Err() == nil {
			err = nil // busy_timeout ran out: another run holds it; wait on
		}
	}
	if conn != nil {
		_ = conn.Close() // else it stays open, and the lock file with it, after db.Close
	}
	_ = db.Close()
	return fmt.Errorf("store: take the migration lock %s: %w", l.path, err)
}

// Unlock implements lock.Locker. Closing the connection would release the
// lock too; ROLLBACK says so.
func (l *sqliteFileLock) Unlock(ctx context.Context, _ *sql.DB) error {
	if l.db == nil {
		return errors.New("store: migration lock not held")
	}
	_, err := l.conn.ExecContext(ctx, "ROLLBACK")
	err = errors.Join(err, l.conn.Close(), l.db.Close())
	l.db, l.conn = nil, nil
	return err
}
