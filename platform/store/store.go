// Package store opens the service's SQL database and gives it the behaviour
// every service needs: versioned migrations, transactions that retry on
// contention, constraint-violation checks and pool metrics.
//
// DATABASE_URL picks the backend: sqlite:// (pure Go, modernc.org/sqlite, the
// embedded default) or postgres:// (pgx). Both take $1, $2 placeholders, so
// a service writes its queries once; dialect differences stay in its
// migrations and, rarely, in a switch on DB.Dialect.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names the SQL backend.
type Dialect string

// The supported dialects.
const (
	// SQLite is modernc.org/sqlite, a pure Go SQLite; the embedded default.
	SQLite Dialect = "sqlite"
	// Postgres is PostgreSQL through pgx.
	Postgres Dialect = "postgres"
)

// DB is an open database pool and its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect

	unregister func() // removes the pool metrics; nil without a registry
}

// Pool sizes. PostgreSQL keeps as many idle connections as it may open, so a
// burst never pays for new connections at p99; connections are recycled
// so that a database failover or a proxy rebalance is picked up. SQLite
// connections are cheap but each runs the pragmas when opened, so they are
// kept.
const (
	postgresMaxConns    = 20
	postgresMaxIdleTime = 5 * time.Minute
	postgresMaxLifetime = 30 * time.Minute
	sqliteMaxConns      = 8
)

// Open opens the database at rawURL and checks that it answers:
//
//   - sqlite://relative/path.db or sqlite:///absolute/path.db opens a SQLite
//     file, creating its directory, in WAL mode with busy_timeout 10 s,
//     foreign keys on and BEGIN IMMEDIATE transactions (so a writer takes
//     the lock up front instead of failing at its first write). Extra query
//     parameters are passed to the driver.
//   - postgres://... or postgresql://... opens PostgreSQL through pgx.
//
// With a non-nil reg, Open registers the pool metrics
// slipway_db_connections{state="open|in_use|idle"}, slipway_db_max_open_connections,
// slipway_db_wait_count_total and slipway_db_wait_duration_seconds_total with
// the const label service; Close unregisters them.
func Open(ctx context.Context, rawURL string, service string, reg prometheus.Registerer) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		db, err = openSQLite(rawURL)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err = openPostgres(rawURL)
	default:
		scheme, _, _ := strings.Cut(rawURL, ":")
		return nil, fmt.Errorf("store: database url scheme %q: want sqlite:// or postgres://", scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.DB.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", db.Dialect, err)
	}
	if reg != nil {
		c := newPoolCollector(db.DB, service)
		if err := reg.Register(c); err != nil {
			_ = db.DB.Close()
			return nil, fmt.Errorf("store: register pool metrics for service %q: %w", service, err)
		}
		db.unregister = func() { reg.Unregister(c) }
	}
	return db, nil
}

func openSQLite(rawURL string) (*DB, error) {
	path, query, _ := strings.Cut(strings.TrimPrefix(rawURL, "sqlite://"), "?")
	if path == "" {
		return nil, fmt.Errorf("store: %q has no file path", rawURL)
	}
	maxConns := sqliteMaxConns
	if path == ":memory:" {
		// Every connection would get its own empty database.
		maxConns = 1
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "foreign_keys(1)")
	params.Set("_txlock", "immediate")
	dsn := path + "?" + params.Encode()
	if query != "" {
		dsn += "&" + query
	}
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	return &DB{DB: sqlDB, Dialect: SQLite}, nil
}

func openPostgres(rawURL string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("store: %w", err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(postgresMaxConns)
	sqlDB.SetMaxIdleConns(postgresMaxConns)
	sqlDB.SetConnMaxIdleTime(postgresMaxIdleTime)
	sqlDB.SetConnMaxLifetime(postgresMaxLifetime)
	return &DB{DB: sqlDB, Dialect: Postgres}, nil
}

// Ping checks that the database answers; readiness calls it.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.Dialect, err)
	}
	return nil
}

// Close unregisters the pool metrics and closes the pool.
func (db *DB) Close() error {
	if db.unregister != nil {
		db.unregister() // a second Close unregisters nothing, harmlessly
	}
	return db.DB.Close()
}
