package sandbox

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

// Schema returns the SQL that creates the ledger's tables (sandbox_payments
// and sandbox_idempotency) on dialect, written as a goose migration: the
// payment store adds it to its migrations/<dialect>/ as one file.
func Schema(dialect store.Dialect) (string, error) {
	b, err := schemaFiles.ReadFile("schema/" + string(dialect) + ".sql")
	if err != nil {
		return "", fmt.Errorf("sandbox: no ledger schema for dialect %q", dialect)
	}
	return string(b), nil
}

// SQLLedger is a Ledger in the payment service's database, so that a
// restart keeps authorizations capturable and idempotency keys answered.
// Its tables are Schema's.
type SQLLedger struct {
	db *store.DB
}

var _ Ledger = (*SQLLedger)(nil)

// NewSQLLedger returns a ledger on db, whose tables Schema created.
func NewSQLLedger(db *store.DB) *SQLLedger { return &SQLLedger{db: db} }

const paymentColumns = `ref, order_id, user_id, payment_method, currency, authorized, captured, refunded, status, created_at, updated_at`

// Apply implements Ledger in one transaction: it claims op.Key by inserting
// its row (a concurrent request with the same key waits on the row, then
// finds it taken), locks the payment, runs step and stores its result.
// Rerunning the transaction after an unknown commit is safe: the rerun
// finds the key taken and returns the stored outcome.
func (l *SQLLedger) Apply(ctx context.Context, op Operation, step Step) (Outcome, error) {
	var out Outcome
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = l.apply(ctx, tx, op, step)
		return err
	}, store.Idempotent())
	if err != nil {
		return Outcome{}, err
	}
	return out, nil
}

func (l *SQLLedger) apply(ctx context.Context, tx *sql.Tx, op Operation, step Step) (Outcome, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO sandbox_idempotency (idem_key, fingerprint, created_at) VALUES ($1, $2, $3) ON CONFLICT (idem_key) DO NOTHING`,
		op.Key, op.Fingerprint, time.Now().UTC())
	if err != nil {
		return Outcome{}, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Outcome{}, err
	} else if n == 0 {
		return l.stored(ctx, tx, op)
	}

	var cur *Payment
	if op.Ref != "" {
		p, err := l.payment(ctx, tx, op.Ref, true)
		if err != nil {
			return Outcome{}, err
		}
		cur = &p
	}
	next, out, err := step(cur)
	if err != nil {
		return Outcome{}, err
	}
	if next != nil {
		if err := l.put(ctx, tx, next, cur == nil); err != nil {
			return Outcome{}, err
		}
	}
	var code, msg string
	if out.Decline != nil {
		code, msg = out.Decline.Code, out.Decline.Message
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE sandbox_idempotency SET ref = $1, status = $2, decline_code = $3, decline_message = $4 WHERE idem_key = $5`,
		out.Ref, string(out.Status), code, msg, op.Key); err != nil {
		return Outcome{}, fmt.Errorf("store outcome: %w", err)
	}
	return out, nil
}

// stored returns the outcome an earlier request stored under op.Key.
func (l *SQLLedger) stored(ctx context.Context, tx *sql.Tx, op Operation) (Outcome, error) {
	var fp, ref, status, code, msg string
	err := tx.QueryRowContext(ctx,
		`SELECT fingerprint, ref, status, decline_code, decline_message FROM sandbox_idempotency WHERE idem_key = $1`,
		op.Key).Scan(&fp, &ref, &status, &code, &msg)
	if err != nil {
		return Outcome{}, fmt.Errorf("read idempotency key: %w", err)
	}
	if fp != op.Fingerprint {
		return Outcome{}, fmt.Errorf("%w: key %q", provider.ErrIdempotencyKeyReused, op.Key)
	}
	out := Outcome{Ref: ref, Status: provider.Status(status), Replayed: true}
	if code != "" {
		out.Decline = &provider.DeclineError{Code: code, Message: msg}
	}
	return out, nil
}

func (l *SQLLedger) put(ctx context.Context, tx *sql.Tx, p *Payment, insert bool) error {
	var err error
	if insert {
		_, err = tx.ExecContext(ctx, `INSERT INTO sandbox_payments (`+paymentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			p.Ref, p.OrderID, p.UserID, p.PaymentMethod, p.Currency, p.Authorized, p.Captured, p.Refunded,
			string(p.Status), p.CreatedAt.UTC(), p.UpdatedAt.UTC())
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE sandbox_payments SET captured = $1, refunded = $2, status = $3, updated_at = $4 WHERE ref = $5`,
			p.Captured, p.Refunded, string(p.Status), p.UpdatedAt.UTC(), p.Ref)
	}
	if err != nil {
		return fmt.Errorf("store payment %s: %w", p.Ref, err)
	}
	return nil
}

// queryer is what payment reads from: the pool or a transaction.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// payment reads the payment ref; forUpdate locks its row on PostgreSQL
// (SQLite has one writer at a time, and the key's INSERT made this
// transaction it).
func (l *SQLLedger) payment(ctx context.Context, q queryer, ref string, forUpdate bool) (Payment, error) {
	query := `SELECT ` + paymentColumns + ` FROM sandbox_payments WHERE ref = $1`
	if forUpdate && l.db.Dialect == store.Postgres {
		query += ` FOR UPDATE`
	}
	var (
		p      Payment
		status string
	)
	err := q.QueryRowContext(ctx, query, ref).Scan(&p.Ref, &p.OrderID, &p.UserID, &p.PaymentMethod, &p.Currency,
		&p.Authorized, &p.Captured, &p.Refunded, &status, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, fmt.Errorf("%w: %q", provider.ErrNotFound, ref)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("read payment %s: %w", ref, err)
	}
	p.Status = provider.Status(status)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// Payment implements Ledger.
func (l *SQLLedger) Payment(ctx context.Context, ref string) (Payment, error) {
	return l.payment(ctx, l.db, ref, false)
}
