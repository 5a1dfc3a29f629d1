package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
)

// MigrationState says whether a database has a migration.
type MigrationState string

// The states of a migration.
const (
	MigrationApplied MigrationState = "applied"
	MigrationPending MigrationState = "pending"
)

// Migration is one migration file, NNNN_name.sql, and whether the database
// has it.
type Migration struct {
	Version   int64          `json:"version"`
	Name      string         `json:"name"` // the part after NNNN_, without .sql
	State     MigrationState `json:"state"`
	AppliedAt time.Time      `json:"applied_at,omitzero"` // zero while pending
}

// Migrate applies the migrations in fsys/<dialect>/ that the database does
// not have yet, with goose (github.com/pressly/goose/v3). Files are named
// NNNN_name.sql and start with a "-- +goose Up" line; versions start at 1
// and have no gaps. Each file runs once, in its own transaction together
// with its row in goose_db_version, so a failed file leaves nothing behind
// and the next start retries it.
//
// Concurrent starts are safe: on PostgreSQL the run holds a session
// advisory lock, on SQLite a write lock on a file beside the database
// (migrateLocker). A start with nothing to apply (nearly every start)
// reads goose_db_version and takes no lock. It is an error when a file is
// pending below an applied version. Versions applied by a newer release
// than this one are left alone, so a rollback can still start.
//
// A database migrated by the runner before goose is adopted first: the
// versions in its schema_migrations table are recorded as applied
// (adoptLegacy), and that table is left as it was.
//
// Statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY)
// need goose's "-- +goose NO TRANSACTION" and lose the all-or-nothing
// guarantee for their file.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS) error {
	_, err := db.MigrateUp(ctx, fsys)
	return err
}

// MigrateUp is Migrate, and returns the migrations it applied, in order.
// When a file fails, the error comes with the files applied before it.
func (db *DB) MigrateUp(ctx context.Context, fsys fs.FS) ([]Migration, error) {
	p, err := db.migrations(ctx, fsys)
	if err != nil {
		return nil, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	if !pending {
		return nil, nil
	}
	results, err := p.Up(ctx)
	if err != nil {
		if partial, ok := errors.AsType[*goose.PartialError](err); ok {
			// The failed file's transaction is rolled back; the ones before
			// it are committed and are returned with the error.
			err = fmt.Errorf("store: migration %s: %w", partial.Failed.Source.Path, partial.Err)
			if len(partial.Applied) == 0 {
				return nil, err
			}
			applied, statusErr := appliedOf(ctx, p, partial.Applied)
			return applied, errors.Join(err, statusErr)
		}
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	return appliedOf(ctx, p, results)
}

// appliedOf is the migrations goose ran (results), as status lists them.
func appliedOf(ctx context.Context, p *goose.Provider, results []*goose.MigrationResult) ([]Migration, error) {
	status, err := migrationStatus(ctx, p)
	if err != nil {
		return nil, err
	}
	ran := make(map[int64]bool, len(results))
	for _, r := range results {
		ran[r.Source.Version] = true
	}
	var applied []Migration
	for _, m := range status {
		if ran[m.Version] {
			applied = append(applied, m)
		}
	}
	return applied, nil
}

// MigrationStatus lists the migrations in fsys/<dialect>/ by version, each
// applied (with when) or pending. It adopts a database migrated before
// goose as Migrate does, and waits while another instance migrates.
func (db *DB) MigrationStatus(ctx context.Context, fsys fs.FS) ([]Migration, error) {
	p, err := db.migrations(ctx, fsys)
	if err != nil {
		return nil, err
	}
	return migrationStatus(ctx, p)
}

func migrationStatus(ctx context.Context, p *goose.Provider) ([]Migration, error) {
	status, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migration status: %w", err)
	}
	out := make([]Migration, 0, len(status))
	for _, s := range status {
		m := Migration{Version: s.Source.Version, Name: migrationName(s.Source.Path), State: MigrationPending}
		if s.State == goose.StateApplied {
			m.State, m.AppliedAt = MigrationApplied, s.AppliedAt.UTC()
		}
		out = append(out, m)
	}
	return out, nil
}

// migrations checks the dialect's files, adopts a database migrated before
// goose, and returns the goose provider for them.
func (db *DB) migrations(ctx context.Context, fsys fs.FS) (*goose.Provider, error) {
	dir := string(db.Dialect)
	if _, err := fs.Stat(fsys, dir); err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	files, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	names, err := migrationFiles(files, dir)
	if err != nil {
		return nil, err
	}
	dialect, opts, err := db.migrateLocker(ctx)
	if err != nil {
		return nil, err
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(dialect, db.DB, files, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	if err := db.adoptLegacy(ctx, names); err != nil {
		return nil, err
	}
	return p, nil
}

// migrationFiles returns the name of each version in files, checking what
// goose does not: it skips a .sql file without a version, and allows gaps.
func migrationFiles(files fs.FS, dir string) (map[int64]string, error) {
	paths, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	names := make(map[int64]string, len(paths))
	for _, p := range paths {
		version, err := goose.NumericComponent(p)
		if err != nil || version < 1 || migrationName(p) == "" {
			return nil, fmt.Errorf("store: migration %s/%s: want NNNN_name.sql with NNNN >= 1", dir, p)
		}
		if err := hasGooseUp(files, p); err != nil {
			return nil, fmt.Errorf("store: migration %s/%s: %w", dir, p, err)
		}
		if other, ok := names[version]; ok {
			return nil, fmt.Errorf("store: migrations %s/%s and %s/%s have the same version", dir, p, dir, other)
		}
		names[version] = p
	}
	for v := int64(1); v <= int64(len(names)); v++ {
		if _, ok := names[v]; !ok {
			return nil, fmt.Errorf("store: migration version %d is missing from %s", v, dir)
		}
	}
	for v, p := range names {
		names[v] = migrationName(p)
	}
	return names, nil
}

// hasGooseUp checks that a file has goose's "-- +goose Up" line, which
// goose needs before the statements it runs; without it goose reports only
// an "unexpected state" on the file's first statement.
func hasGooseUp(files fs.FS, path string) error {
	body, err := fs.ReadFile(files, path)
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(body)) {
		comment, ok := strings.CutPrefix(strings.TrimSpace(line), "--")
		if !ok {
			continue
		}
		if up, ok := strings.CutPrefix(strings.TrimSpace(comment), "+goose"); ok && strings.EqualFold(strings.TrimSpace(up), "Up") {
			return nil
		}
	}
	return errors.New(`no "-- +goose Up" line: goose runs only the statements after it`)
}

// migrationName is "init" for "0001_init.sql".
func migrationName(path string) string {
	base := path[strings.LastIndex(path, "/")+1:]
	_, name, _ := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
	return name
}
