package events

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/slipway-dev/slipway/platform/store"
)

// schemaLockKey serialises EnsureSchema across replicas starting at once on
// PostgreSQL, where concurrent CREATE TABLE IF NOT EXISTS can still collide
// ("outbox" in ASCII).
const schemaLockKey int64 = 0x6f7574626f78

// schema is the outbox and inbox DDL per dialect. outbox_pending is partial,
// so the relay's poll reads only unsent rows however large the table grows.
var schema = map[store.Dialect][]string{
	store.Postgres: {
		`CREATE TABLE IF NOT EXISTS outbox (
			id         BIGSERIAL PRIMARY KEY,
			event_id   TEXT NOT NULL UNIQUE,
			subject    TEXT NOT NULL,
			payload    BYTEA NOT NULL,
			headers    TEXT NOT NULL,
			created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			sent_at    TIMESTAMPTZ,
			attempts   INTEGER NOT NULL DEFAULT 0,
			last_error TEXT
		)`,
		`CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS inbox (
			consumer     TEXT NOT NULL,
			event_id     TEXT NOT NULL,
			processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			PRIMARY KEY (consumer, event_id)
		)`,
		`CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (consumer, processed_at)`,
	},
	store.SQLite: {
		`CREATE TABLE IF NOT EXISTS outbox (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			event_id   TEXT NOT NULL UNIQUE,
			subject    TEXT NOT NULL,
			payload    BLOB NOT NULL,
			headers    TEXT NOT NULL,
			created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
			sent_at    TEXT,
			attempts   INTEGER NOT NULL DEFAULT 0,
			last_error TEXT
		)`,
		`CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS inbox (
			consumer     TEXT NOT NULL,
			event_id     TEXT NOT NULL,
			processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
			PRIMARY KEY (consumer, event_id)
		)`,
		`CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (consumer, processed_at)`,
	},
}

// EnsureSchema creates the outbox and inbox tables and their indexes when
// they do not exist, on either dialect. It is safe to call at every start and
// from replicas starting together. A service that prefers its own migrations
// may copy this DDL into them instead.
func EnsureSchema(ctx context.Context, db *store.DB) error {
	stmts, ok := schema[db.Dialect]
	if !ok {
		return fmt.Errorf("events: ensure schema: unsupported dialect %q", db.Dialect)
	}
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if db.Dialect == store.Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLockKey); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("events: ensure schema: %w", err)
	}
	return nil
}

// nowSQL is the dialect's current time in the form the tables store it.
var nowSQL = map[store.Dialect]string{
	store.Postgres: "clock_timestamp()",
	store.SQLite:   "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
}
