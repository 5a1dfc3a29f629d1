package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// legacyTable is where the runner before goose recorded applied files:
// schema_migrations(version, name, applied_at).
const legacyTable = "schema_migrations"

// adoptCopy records in goose's table, keeping applied_at, every version of
// schema_migrations that goose's table lacks. goose reads its PostgreSQL
// tstamp (timestamp without time zone) as UTC.
var adoptCopy = map[Dialect]string{
	Postgres: `INSERT INTO ` + goose.DefaultTablename + ` (version_id, is_applied, tstamp)
		SELECT s.version, true, s.applied_at AT TIME ZONE 'UTC' FROM ` + legacyTable + ` s
		WHERE NOT EXISTS (SELECT 1 FROM ` + goose.DefaultTablename + ` g WHERE g.version_id = s.version)
		ORDER BY s.version`,
	SQLite: `INSERT INTO ` + goose.DefaultTablename + ` (version_id, is_applied, tstamp)
		SELECT s.version, 1, datetime(s.applied_at) FROM ` + legacyTable + ` s
		WHERE NOT EXISTS (SELECT 1 FROM ` + goose.DefaultTablename + ` g WHERE g.version_id = s.version)
		ORDER BY s.version`,
}

// adoptLegacy makes goose see what the runner before goose applied, so a
// database it migrated is not migrated again: the versions in
// schema_migrations that goose_db_version lacks are inserted there, in one
// transaction under the migration lock, before goose runs. names are the
// files' names by version; a version applied under another name than its
// file's is an error, as it was for the old runner. schema_migrations is
// left as it was, so a rollback to the old release still starts.
//
// Every start checks, without the lock, for versions left to adopt, so an
// old release that applies a file after a new one first ran (a rolling
// upgrade) is caught up too.
func (db *DB) adoptLegacy(ctx context.Context, names map[int64]string) error {
	legacy, err := db.tableExists(ctx, db, legacyTable)
	if err != nil || !legacy {
		return err
	}
	var left bool
	err = db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+legacyTable+` s
		WHERE NOT EXISTS (SELECT 1 FROM `+goose.DefaultTablename+` g WHERE g.version_id = s.version))`).Scan(&left)
	if err == nil && !left {
		return nil
	}
	// Versions left to adopt, or no goose table yet: decided under the lock.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: adopt %s: begin: %w", legacyTable, err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if err := db.adoptIn(ctx, tx, names); err != nil {
		return fmt.Errorf("store: adopt %s: %w", legacyTable, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: adopt %s: commit: %w", legacyTable, err)
	}
	return nil
}

func (db *DB) adoptIn(ctx context.Context, tx *sql.Tx, names map[int64]string) error {
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		// The lock waits for another instance's migrations, which is not a
		// runaway statement. SQLite's immediate transaction is its lock.
		if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return fmt.Errorf("lift the statement timeout: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT version, name FROM "+legacyTable)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			version int64
			name    string
		)
		if err := rows.Scan(&version, &name); err != nil {
			return err
		}
		if file, ok := names[version]; ok && file != name {
			return fmt.Errorf("migration %d was applied as %q but the file is now %q", version, name, file)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}

	exists, err := db.tableExists(ctx, tx, goose.DefaultTablename)
	if err != nil {
		return err
	}
	if !exists {
		// As goose creates it: its own DDL, and the version 0 row it expects.
		s, err := database.NewStore(dialect, goose.DefaultTablename)
		if err != nil {
			return err
		}
		if err := s.CreateVersionTable(ctx, tx); err != nil {
			return fmt.Errorf("create %s: %w", goose.DefaultTablename, err)
		}
		if err := s.Insert(ctx, tx, database.InsertRequest{Version: 0}); err != nil {
			return fmt.Errorf("create %s: %w", goose.DefaultTablename, err)
		}
	}
	if _, err := tx.ExecContext(ctx, adoptCopy[db.Dialect]); err != nil {
		return fmt.Errorf("copy the applied versions: %w", err)
	}
	return nil
}

// queryRower is a *sql.Tx or a *DB.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tableExists reports whether the table is in the database (PostgreSQL:
// on the search path).
func (db *DB) tableExists(ctx context.Context, q queryRower, table string) (bool, error) {
	query := "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)"
	if db.Dialect == Postgres {
		query = "SELECT to_regclass($1) IS NOT NULL"
	}
	var exists bool
	if err := q.QueryRowContext(ctx, query, table).Scan(&exists); err != nil {
		return false, fmt.Errorf("store: look for table %s: %w", table, err)
	}
	return exists, nil
}
