package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// UnavailableRetryAfter is how long a client is asked to wait after the
// database could not be reached: about as long as a PostgreSQL fast restart
// or a failover's connection refusals last.
const UnavailableRetryAfter = time.Second

// PostgreSQL SQLSTATEs that mean the server, not the statement, failed.
const (
	pgAdminShutdown            = "57P01" // terminated by an administrator (pg_terminate_backend, fast shutdown)
	pgCrashShutdown            = "57P02" // another backend crashed; every session is reset
	pgCannotConnectNow         = "57P03" // the server is starting up or shutting down
	pgQueryCanceled            = "57014" // statement_timeout, or a cancel request
	pgCharacterNotInRepertoire = "22021" // e.g. a NUL byte in text
	pgUntranslatableCharacter  = "22P05"
	pgConnectionClass          = "08" // connection exceptions
)

// Retry bounds for a lost connection. A PostgreSQL fast restart refuses
// connections for one to two seconds; 25 attempts with backoffs doubling
// from about 25 ms and capped at 125 to 250 ms span 2.8 to 5.6 s in all,
// and stop as soon as ctx ends (the RPC's deadline). The cap is low on
// purpose: whoever waits out a restart is answered at most about 250 ms
// after the server is back, where a cap near a second kept the requests
// that arrived first waiting up to a second more, and made the p99 of
// deploy/chaos/postgres-restart.yaml (see docs/architecture.md). The
// retries of one waiting call cost a refused connect about every 190 ms.
const (
	connMaxAttempts = 25
	connBaseBackoff = 50 * time.Millisecond
	connMaxBackoff  = 250 * time.Millisecond
)

// ConnectionLost reports whether err means the database could not be
// reached or the connection to it broke: a refused or failed connect, a
// connection the server closed (administrator shutdown, crash recovery,
// start-up), or one that died under the driver. The statement or the
// transaction in flight did not commit, unless it was a COMMIT itself.
func ConnectionLost(err error) bool {
	if err == nil {
		return false
	}
	if code, ok := pgCode(err); ok {
		return strings.HasPrefix(code, pgConnectionClass) ||
			code == pgAdminShutdown || code == pgCrashShutdown || code == pgCannotConnectNow
	}
	var (
		connectErr *pgconn.ConnectError
		opErr      *net.OpError
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &opErr),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, errStatementCut),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgconn's own "conn closed" and "conn busy" errors, and any error
	// raised before the statement was sent.
	return pgconn.SafeToRetry(err)
}

// neverSent reports whether err happened before the statement reached the
// server, so that running it again cannot apply it twice. An error the
// connection wrapper knows was sent (sentError, errStatementCut) never is,
// whatever pgx's SafeToRetry says.
func neverSent(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		sent       *sentError
	)
	if errors.As(err, &sent) || errors.Is(err, errStatementCut) {
		return false
	}
	return errors.As(err, &connectErr) || errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err)
}

// classify turns an error of the database into the kind the edge maps:
// errkind.Unavailable (UNAVAILABLE, HTTP 503 with Retry-After) when the
// database could not be reached, the connection broke, a statement ran
// past the statement timeout, or SQLite stayed locked past its busy
// timeout. When ctx has ended, the error is ctx's (DEADLINE_EXCEEDED or
// CANCELLED), whatever the driver made of it. Other errors (constraint
// violations, syntax) are returned as they are; they stay inspectable with
// errors.As either way.
func classify(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, errkind.Unavailable) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return err
		}
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	if statementTimedOut(err) || ConnectionLost(err) || sqliteLocked(err) {
		return errkind.Unreachable("database", UnavailableRetryAfter, err)
	}
	if code, ok := pgCode(err); ok && (code == pgCharacterNotInRepertoire || code == pgUntranslatableCharacter) {
		return &unstorableTextError{err: err}
	}
	return err
}

// unstorableTextError is text PostgreSQL refuses to store or compare, such
// as a NUL byte, which a client can put in any string field. It is the
// client's mistake (errkind.Invalid); its message leaves out the driver's.
type unstorableTextError struct{ err error }

func (e *unstorableTextError) Error() string {
	return "a text value contains a character the database cannot store, such as NUL"
}

// Unwrap keeps the driver's error for the logs and makes this an Invalid.
func (e *unstorableTextError) Unwrap() []error { return []error{errkind.Invalid, e.err} }

// statementTimedOut is PostgreSQL cancelling a statement that ran past
// statement_timeout (ctx, not done, did not ask for it). It maps to
// UNAVAILABLE rather than DEADLINE_EXCEEDED: the transaction was rolled
// back, so the request had no effect and is safe to send again, which
// UNAVAILABLE says and DEADLINE_EXCEEDED (outcome unknown) does not; and
// the client's own deadline has not passed.
func statementTimedOut(err error) bool {
	code, ok := pgCode(err)
	return ok && code == pgQueryCanceled
}

// sqliteLocked is SQLite still finding the database locked when its busy
// timeout ran out: another writer holds it, for now.
func sqliteLocked(err error) bool {
	code, ok := sqliteCode(err)
	return ok && (code&0xff == sqlite3.SQLITE_BUSY || code&0xff == sqlite3.SQLITE_LOCKED)
}

// connBackoff doubles from connBaseBackoff, capped, with equal jitter.
func connBackoff(attempt int) time.Duration {
	d := min(connBaseBackoff<<(attempt-1), connMaxBackoff)
	return d/2 + rand.N(d/2) //nolint:gosec // retry jitter needs no cryptographic randomness
}

// wait sleeps for d; false when ctx ended first.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryLost runs op again, on a fresh connection, while it fails with an
// error retryable accepts, up to connMaxAttempts, backing off between
// attempts; it stops as soon as ctx ends. It returns the last attempt's
// result: a failed attempt's is dropped, which for database/sql is nil (its
// Query and Exec return nothing to close along with an error).
func retryLost[T any](ctx context.Context, db *DB, retryable func(error) bool, op func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := op()
		if err == nil || !retryable(err) || attempt == connMaxAttempts {
			return v, err
		}
		db.dropIdle()
		if !wait(ctx, connBackoff(attempt)) {
			return v, err
		}
		db.lostRetries.Add(1)
	}
}

// dropIdle closes the pool's idle connections after one was found lost.
// What ends one session (a restart, a failover) has ended the others as
// well; database/sql pings an idle connection only when it was idle for
// over a second, so a busy pool would hand the next attempt another dead
// one, and each dead one costs an attempt and a longer backoff: after a
// restart, a pool of four cost up to 450 ms before one fresh connection.
// Healthy idle connections dropped along are dialled again, in a few ms.
func (db *DB) dropIdle() {
	if db.maxIdle == 0 {
		return // not opened by Open: its pool is its owner's to size
	}
	db.SetMaxIdleConns(0)
	db.SetMaxIdleConns(db.maxIdle)
}
