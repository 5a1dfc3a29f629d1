package store

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/jackc/pgx/v5/stdlib"
)

// pgConnector opens pgx connections whose errors are classified (classify):
// every statement, in a transaction or not, and every row read through
// database/sql, reports an unreachable database as errkind.Unavailable.
type pgConnector struct {
	driver.Connector
}

// Connect implements driver.Connector.
func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, classify(ctx, err)
	}
	return &pgConn{Conn: conn.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection that classifies the errors of what may fail
// on the server; the rest of database/sql's interfaces pass through.
// Classified errors still match driver.ErrBadConn, on which database/sql
// discards the connection and retries.
type pgConn struct {
	*stdlib.Conn
}

// errStatementCut is a connection lost while a statement was on it.
var errStatementCut = errors.New("store: the connection was lost while the statement ran; it may have been applied")

// ExecContext implements driver.ExecerContext. pgx reports a connection
// cut while the statement ran as driver.ErrBadConn, on which database/sql
// sends the statement again on another connection, although the server may
// have applied it. Only a connection found closed before sending keeps
// ErrBadConn; any other becomes errStatementCut, which nothing repeats
// outside a transaction (and InTx reruns as a whole).
func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	closedBefore := c.Conn.Conn().IsClosed()
	res, err := c.Conn.ExecContext(ctx, query, args)
	if errors.Is(err, driver.ErrBadConn) && !closedBefore {
		err = errStatementCut
	}
	return res, classify(ctx, err)
}

// QueryContext implements driver.QueryerContext. pgx reads the first row
// here, so a connection lost before the answer is reported here too.
func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.Conn.QueryContext(ctx, query, args)
	return rows, classify(ctx, err)
}

// BeginTx implements driver.ConnBeginTx.
func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, classify(ctx, err)
	}
	return pgTx{tx: tx, ctx: ctx, conn: c}, nil
}

// Ping implements driver.Pinger.
func (c *pgConn) Ping(ctx context.Context) error {
	return classify(ctx, c.Conn.Ping(ctx))
}

// pgTx classifies the errors of COMMIT and ROLLBACK.
type pgTx struct {
	tx   driver.Tx
	ctx  context.Context
	conn *pgConn
}

// Commit implements driver.Tx. A COMMIT that fails on a connection that
// was open when it was sent may have committed: pgx may still call the
// error safe to retry ("conn closed" after it closed the connection on the
// lost answer), so the error is marked as sent.
func (t pgTx) Commit() error {
	closedBefore := t.conn.Conn.Conn().IsClosed()
	err := t.tx.Commit()
	if err != nil && !closedBefore {
		err = &sentError{err: err}
	}
	return classify(t.ctx, err)
}

// Rollback implements driver.Tx.
func (t pgTx) Rollback() error { return classify(t.ctx, t.tx.Rollback()) }

// sentError is an error of a statement that reached the connection: its
// outcome is unknown, whatever the driver says.
type sentError struct{ err error }

func (e *sentError) Error() string { return e.err.Error() }
func (e *sentError) Unwrap() error { return e.err }
