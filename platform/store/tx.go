package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Retry bounds for InTx. Contention clears in milliseconds: five attempts
// with backoffs of about 10, 20, 40 and 80 ms wait at most 150 ms in all,
// well inside an RPC deadline, before the error goes back to the caller.
const (
	txMaxAttempts = 5
	txBaseBackoff = 10 * time.Millisecond
	txMaxBackoff  = 500 * time.Millisecond
)

// PostgreSQL SQLSTATE codes.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
	pgCheckViolation       = "23514"
)

// TxOption configures one InTx.
type TxOption func(*txOptions)

type txOptions struct {
	idempotent bool
}

// Idempotent declares that running fn again after it committed changes
// nothing and returns the same result (an insert keyed by the request's
// idempotency key with ON CONFLICT DO NOTHING, an update guarded by the
// state it changes). Only then does InTx retry a COMMIT whose outcome a
// lost connection left unknown.
func Idempotent() TxOption { return func(o *txOptions) { o.idempotent = true } }

// InTx runs fn in a transaction and commits it, or rolls it back if fn
// returns an error or panics. fn's error is returned as is, so domain errors
// stay comparable with errors.Is; an unreachable database is
// errkind.Unavailable.
//
// InTx runs the whole transaction again, from BEGIN, when that is safe:
//   - it lost to a concurrent one (PostgreSQL serialization failure 40001
//     or deadlock 40P01, SQLite SQLITE_BUSY): up to five attempts, backoffs
//     from about 10 ms;
//   - the connection was lost before COMMIT was sent (ConnectionLost: the
//     server rolled the transaction back), or COMMIT never left: up to
//     25 attempts on fresh connections, backoffs from about 25 ms to
//     250 ms, which outlast a PostgreSQL restart;
//   - the connection was lost during COMMIT, so the outcome is unknown:
//     only with Idempotent, since the first attempt may have committed.
//
// Every wait stops early when ctx is done. fn may therefore run more than
// once: it must do nothing outside tx that cannot be repeated.
//
// Traced, the whole call is one TRANSACTION span, each retry an event on it
// (slipway.db.retry.cause contention or lost_connection); fn's statements
// make no spans of their own, so a transaction costs one span however many
// statements and attempts it takes.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error, opts ...TxOption) (err error) {
	var o txOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, span, end := db.startSpan(ctx, "")
	defer func() { end(err) }()
	contention, lost := 0, 0
	for {
		err := db.runTx(ctx, fn)
		var pause time.Duration
		switch {
		case err == nil:
			return nil
		case isRetryable(err):
			if contention++; contention == txMaxAttempts {
				return classify(ctx, fmt.Errorf("store: transaction gave up after %d attempts: %w", contention, err))
			}
			pause = backoff(contention)
			db.contentionRetries.Add(1)
			span.AddEvent("retry", trace.WithAttributes(retryCause.String("contention")))
		case db.lostSafely(err, o):
			if lost++; lost == connMaxAttempts {
				return classify(ctx, fmt.Errorf("store: transaction gave up after %d attempts on fresh connections: %w", lost, err))
			}
			pause = connBackoff(lost)
			db.dropIdle()
			db.lostRetries.Add(1)
			span.AddEvent("retry", trace.WithAttributes(retryCause.String("lost_connection")))
		default:
			return classify(ctx, err)
		}
		if !wait(ctx, pause) {
			return classify(ctx, fmt.Errorf("store: transaction retry stopped: %w (last error: %w)", ctx.Err(), err))
		}
	}
}

// retryCause is the attribute of a transaction span's retry events, with
// the values of slipway_db_retries_total's cause label.
const retryCause = attribute.Key("slipway.db.retry.cause")

// lostSafely reports whether err is a lost connection after which the
// transaction can be run again without applying it twice.
func (db *DB) lostSafely(err error, o txOptions) bool {
	var ce *commitError
	if errors.As(err, &ce) {
		return ConnectionLost(ce.err) && (o.idempotent || neverSent(ce.err))
	}
	return ConnectionLost(err)
}

// commitError is a COMMIT that failed: whether the transaction committed
// may be unknown.
type commitError struct{ err error }

func (e *commitError) Error() string { return "store: commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// backoff doubles from txBaseBackoff, capped, with "equal jitter": half
// fixed, half random, so that retries neither collide again nor spin.
func backoff(attempt int) time.Duration {
	d := min(txBaseBackoff<<(attempt-1), txMaxBackoff)
	return d/2 + rand.N(d/2) //nolint:gosec // retry jitter needs no cryptographic randomness
}

func (db *DB) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// On the error path fn's error matters, not the rollback's;
			// on panic the rollback runs before the panic continues.
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		committed = true // a failed COMMIT ends the transaction too
		return &commitError{err: err}
	}
	committed = true
	return nil
}

// isRetryable reports whether err is a transaction losing to a concurrent
// one, which a fresh attempt can win.
func isRetryable(err error) bool {
	if code, ok := pgCode(err); ok {
		return code == pgSerializationFailure || code == pgDeadlockDetected
	}
	if code, ok := sqliteCode(err); ok {
		return code&0xff == sqlite3.SQLITE_BUSY // any extended BUSY code
	}
	return false
}

// IsUniqueViolation reports whether err comes from a UNIQUE or PRIMARY KEY
// constraint, on either dialect. Stores turn it into errkind.AlreadyExists.
func IsUniqueViolation(err error) bool {
	if code, ok := pgCode(err); ok {
		return code == pgUniqueViolation
	}
	if code, ok := sqliteCode(err); ok {
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsCheckViolation reports whether err comes from a CHECK constraint, on
// either dialect, such as stock going below zero.
func IsCheckViolation(err error) bool {
	if code, ok := pgCode(err); ok {
		return code == pgCheckViolation
	}
	if code, ok := sqliteCode(err); ok {
		return code == sqlite3.SQLITE_CONSTRAINT_CHECK
	}
	return false
}

func pgCode(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code, true
	}
	return "", false
}

func sqliteCode(err error) (int, bool) {
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code(), true
	}
	return 0, false
}
