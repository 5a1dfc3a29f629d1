// Package store opens the service's SQL database and gives it the behaviour
// every service needs: versioned migrations, transactions that retry on
// contention, constraint-violation checks and pool metrics.
//
// DATABASE_URL picks the backend: sqlite:// (pure Go, modernc.org/sqlite, the
// embedded default) or postgres:// (pgx). Both take $1, $2 placeholders, so
// a service writes its queries once; dialect differences stay in its
// migrations and, rarely, in a switch on DB.Dialect.
//
// A call made for a traced request (a span in its context) is a client
// span of the database, a child of that span, from the same tracer
// provider: a statement of QueryContext, QueryRowContext or ExecContext is
// named for its operation (SELECT, UPDATE...), and a whole InTx is one
// TRANSACTION span, its retries events on it. Every span carries the
// semantic conventions' db.system.name (postgresql or sqlite), db.namespace
// and, for PostgreSQL, server.address and server.port. Without a span in
// the context nothing is made.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/slipway-dev/slipway/platform/config"
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
	maxIdle    int    // the pool's idle connections at most, restored by dropIdle

	spanAttrs []attribute.KeyValue // on every span: db.system.name, db.namespace, server.*

	// Attempts run again, by cause (slipway_db_retries_total).
	lostRetries, contentionRetries atomic.Int64
}

// Option configures Open.
type Option func(*openOptions)

type openOptions struct {
	pool config.DBPool
}

// WithPool sizes the pool and sets the statement timeout (config.DBPool).
// Without it, or with a zero DBPool (a config.Base built without
// SetDefaults), Open uses config.DBPool's defaults.
func WithPool(p config.DBPool) Option {
	return func(o *openOptions) {
		if p.MaxConns > 0 {
			o.pool = p
		}
	}
}

// sqliteDefaultBusyTimeout is how long SQLite waits for another writer's
// lock when DB_STATEMENT_TIMEOUT is 0.
const sqliteDefaultBusyTimeout = 10 * time.Second

// Open opens the database at rawURL and checks that it answers:
//
//   - sqlite://relative/path.db or sqlite:///absolute/path.db opens a SQLite
//     file, creating its directory, in WAL mode with the statement timeout
//     as busy_timeout,
//     foreign keys on and BEGIN IMMEDIATE transactions (so a writer takes
//     the lock up front instead of failing at its first write). Extra query
//     parameters are passed to the driver.
//   - postgres://... or postgresql://... opens PostgreSQL through pgx, with
//     the statement timeout as every session's statement_timeout. Errors
//     that mean the database is unreachable are errkind.Unavailable
//     (classify), and reads are retried on a fresh connection (QueryContext).
//
// The pool is sized by WithPool (DB_MAX_CONNS and friends); Open opens
// DB_MIN_CONNS connections before it returns.
//
// With a non-nil reg, Open registers the pool metrics
// slipway_db_connections{state="open|in_use|idle"}, slipway_db_max_open_connections,
// slipway_db_wait_count_total, slipway_db_wait_duration_seconds_total and
// slipway_db_retries_total{cause="lost_connection|contention"} with the
// const label service; Close unregisters them.
func Open(ctx context.Context, rawURL string, service string, reg prometheus.Registerer, opts ...Option) (*DB, error) {
	var o openOptions
	var defaults config.Base
	defaults.SetDefaults(service, 0, 0)
	o.pool = defaults.DB
	for _, opt := range opts {
		opt(&o)
	}
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		db, err = openSQLite(rawURL, o.pool)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err = openPostgres(rawURL, o.pool)
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
	if err := db.warm(ctx, o.pool.MinConns); err != nil {
		_ = db.DB.Close()
		return nil, fmt.Errorf("store: open %d connection(s) to %s (DB_MIN_CONNS): %w", o.pool.MinConns, db.Dialect, err)
	}
	if reg != nil {
		c := newPoolCollector(db, service)
		if err := reg.Register(c); err != nil {
			_ = db.DB.Close()
			return nil, fmt.Errorf("store: register pool metrics for service %q: %w", service, err)
		}
		db.unregister = func() { reg.Unregister(c) }
	}
	return db, nil
}

func openSQLite(rawURL string, pool config.DBPool) (*DB, error) {
	path, query, _ := strings.Cut(strings.TrimPrefix(rawURL, "sqlite://"), "?")
	if path == "" {
		return nil, fmt.Errorf("store: %q has no file path", rawURL)
	}
	maxConns := pool.MaxConns
	if path == ":memory:" {
		// Every connection would get its own empty database.
		maxConns = 1
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	params := url.Values{}
	busy := pool.StatementTimeout
	if busy <= 0 {
		busy = sqliteDefaultBusyTimeout
	}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
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
	// SQLite connections are cheap but each runs the pragmas when opened,
	// so they are kept: no lifetime or idle limit.
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	return &DB{DB: sqlDB, Dialect: SQLite, maxIdle: maxConns, spanAttrs: spanAttributes(SQLite, path, "", 0)}, nil
}

// openPostgres keeps as many idle connections as it may open, so a burst
// never pays for new connections at p99; the lifetime recycles them so
// that a failover or a proxy rebalance is picked up.
func openPostgres(rawURL string, pool config.DBPool) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("store: %w", err)
	}
	if pool.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(pool.StatementTimeout.Milliseconds(), 10)
	}
	sqlDB := sql.OpenDB(pgConnector{Connector: stdlib.GetConnector(*cfg)})
	sqlDB.SetMaxOpenConns(pool.MaxConns)
	sqlDB.SetMaxIdleConns(pool.MaxConns)
	sqlDB.SetConnMaxIdleTime(pool.MaxConnIdleTime)
	sqlDB.SetConnMaxLifetime(pool.MaxConnLifetime)
	return &DB{DB: sqlDB, Dialect: Postgres, maxIdle: pool.MaxConns,
		spanAttrs: spanAttributes(Postgres, cfg.Database, cfg.Host, cfg.Port)}, nil
}

// warm opens n connections at once and returns them to the pool idle.
func (db *DB) warm(ctx context.Context, n int) error {
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	return nil
}

// QueryContext runs a query that only reads, and runs it again on a fresh
// connection, with backoff, when the connection was lost (ConnectionLost):
// a read changes nothing, so repeating it is always safe. Statements that
// write belong in InTx, or in ExecContext.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, _, end := db.startSpan(ctx, query)
	rows, err := retryLost(ctx, db, ConnectionLost, func() (*sql.Rows, error) {
		return db.DB.QueryContext(ctx, query, args...)
	})
	err = classify(ctx, err)
	end(err)
	return rows, err
}

// QueryRowContext is QueryContext for one row; its error, if any, is
// reported by Scan as usual.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, _, end := db.startSpan(ctx, query)
	row, err := retryLost(ctx, db, ConnectionLost, func() (*sql.Row, error) {
		r := db.DB.QueryRowContext(ctx, query, args...)
		return r, r.Err()
	})
	end(err)
	return row
}

// ExecContext runs a statement outside a transaction. It is run again only
// when it failed before reaching the server (neverSent): once sent, a lost
// connection leaves its outcome unknown, and repeating it could apply it
// twice.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, _, end := db.startSpan(ctx, query)
	res, err := retryLost(ctx, db, neverSent, func() (sql.Result, error) {
		return db.DB.ExecContext(ctx, query, args...)
	})
	err = classify(ctx, err)
	end(err)
	return res, err
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
