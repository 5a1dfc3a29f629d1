package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationLockKey is the PostgreSQL advisory lock that serialises Migrate
// across instances starting at once ("slipway" in ASCII). Advisory locks are
// per database, so services sharing a cluster do not block each other.
const migrationLockKey int64 = 0x736c6970776179

var createMigrationsTable = map[Dialect]string{
	Postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`,
	SQLite: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	)`,
}

// migration is one file, NNNN_name.sql.
type migration struct {
	version int64
	name    string // the part after NNNN_, without .sql
	file    string // path inside the fs.FS
}

// Migrate applies the migrations in fsys/<dialect>/ that the database does
// not have yet. Files are named NNNN_name.sql; versions start at 1 and have
// no gaps. Each file runs once, in its own transaction together with its
// row in schema_migrations(version, name, applied_at), so a failed file
// leaves nothing behind and the next start retries it.
//
// Concurrent starts are safe: on PostgreSQL every step holds
// pg_advisory_xact_lock, on SQLite the immediate transaction holds the write
// lock. It is an error when an applied version's file was renamed, or when a
// file is pending below an applied version. Versions applied by a newer
// release than this one are left alone, so a rollback can still start.
//
// Statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY)
// are not supported.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := readMigrations(fsys, string(db.Dialect))
	if err != nil {
		return err
	}
	if db.upToDate(ctx, ms) {
		return nil
	}
	for {
		done, err := db.migrateNext(ctx, fsys, ms)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		version, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || name == "" || version < 1 {
			return nil, fmt.Errorf("store: migration %s: want NNNN_name.sql with NNNN >= 1", path.Join(dir, e.Name()))
		}
		ms = append(ms, migration{version: version, name: name, file: path.Join(dir, e.Name())})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i, m := range ms {
		if want := int64(i + 1); m.version != want {
			if i > 0 && m.version == ms[i-1].version {
				return nil, fmt.Errorf("store: migrations %s and %s have the same version", ms[i-1].file, m.file)
			}
			return nil, fmt.Errorf("store: migration version %d is missing (next is %s)", want, m.file)
		}
	}
	return ms, nil
}

// migrateNext applies the first pending migration in one transaction and
// reports whether there was none.
func (db *DB) migrateNext(ctx context.Context, fsys fs.FS, ms []migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if db.Dialect == Postgres {
		// A migration may rewrite a large table, and the lock waits for
		// another instance's migrations: neither is a runaway statement.
		if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return false, fmt.Errorf("store: migrate: lift the statement timeout: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return false, fmt.Errorf("store: migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable[db.Dialect]); err != nil {
		return false, fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, tx)
	if err != nil {
		return false, err
	}

	var next *migration
	for i, m := range ms {
		name, ok := applied[m.version]
		switch {
		case ok && name != m.name:
			return false, fmt.Errorf("store: migration %d was applied as %q but the file is now %s", m.version, name, m.file)
		case !ok && next == nil:
			next = &ms[i]
		case ok && next != nil:
			return false, fmt.Errorf("store: migration %s is pending but the later version %d is already applied", next.file, m.version)
		}
	}
	if next == nil {
		if err := tx.Commit(); err != nil {
			return false, fmt.Errorf("store: migrate: commit: %w", err)
		}
		return true, nil
	}

	body, err := fs.ReadFile(fsys, next.file)
	if err != nil {
		return false, fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return false, fmt.Errorf("store: migration %s: %w", next.file, err)
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", next.version, next.name); err != nil {
		return false, fmt.Errorf("store: migration %s: record: %w", next.file, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: migration %s: commit: %w", next.file, err)
	}
	return false, nil
}

// upToDate reports whether every migration in ms is applied under its name,
// from one read without the lock: applied rows are never removed, so the
// answer cannot go stale, and a start with nothing to apply (nearly every
// start) skips the locked transaction. Any doubt (no schema_migrations
// yet, a renamed file) is left to the locked path, which reports it.
func (db *DB) upToDate(ctx context.Context, ms []migration) bool {
	applied, err := appliedMigrations(ctx, db)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if name, ok := applied[m.version]; !ok || name != m.name {
			return false
		}
	}
	return true
}

// querier is a *sql.Tx or a *DB.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func appliedMigrations(ctx context.Context, q querier) (map[int64]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT version, name FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int64]string{}
	for rows.Next() {
		var (
			v    int64
			name string
		)
		if err := rows.Scan(&v, &name); err != nil {
			return nil, fmt.Errorf("store: migrate: read schema_migrations: %w", err)
		}
		applied[v] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: migrate: read schema_migrations: %w", err)
	}
	return applied, nil
}
