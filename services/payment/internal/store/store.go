// Package store keeps the payment service's payments in SQL, on SQLite
// or PostgreSQL, implementing domain.PaymentStore. Every statement is
// written once for both dialects. Its migrations also create the sandbox
// provider's ledger (sandbox.Schema), which lives in the same database.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/wire"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
)

//go:embed migrations
var migrations embed.FS

// Migrations returns the schema migrations as platform store's Migrate
// reads them: <dialect>/NNNN_name.sql.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// ProviderSet provides Payments as the domain's PaymentStore and the
// schema to platform/store.Provide.
var ProviderSet = wire.NewSet(NewPayments, ProvideMigrations, wire.Bind(new(domain.PaymentStore), new(*Payments)))

// ProvideMigrations gives platform/store.Provide the payment schema.
func ProvideMigrations() platformstore.Migrations { return Migrations() }

// Payments is the payments table.
type Payments struct {
	db *platformstore.DB
}

var _ domain.PaymentStore = (*Payments)(nil)

// NewPayments returns the payments of db, which must be migrated with
// Migrations.
func NewPayments(db *platformstore.DB) *Payments { return &Payments{db: db} }

const columns = `id, order_id, user_id, currency, amount_minor, state, provider, provider_ref, payment_method,
	idempotency_key, decline_code, decline_message, created_at, updated_at`

// Create implements domain.PaymentStore.
func (s *Payments) Create(ctx context.Context, p domain.Payment) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO payments (`+columns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		p.ID, p.OrderID, p.UserID, p.Amount.Currency, p.Amount.AmountMinor, string(p.State), p.Provider, p.ProviderRef,
		p.PaymentMethod, p.IdempotencyKey, p.DeclineCode, p.DeclineMessage, p.CreatedAt.UTC(), p.UpdatedAt.UTC())
	if platformstore.IsUniqueViolation(err) {
		return fmt.Errorf("payment of order %s: %w", p.OrderID, domain.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("insert payment %s: %w", p.ID, err)
	}
	return nil
}

// VoidUnpaid implements domain.PaymentStore.
func (s *Payments) VoidUnpaid(ctx context.Context, orderID string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO voided_orders (order_id, voided_at) VALUES ($1, $2)
		ON CONFLICT (order_id) DO NOTHING`, orderID, at.UTC())
	if err != nil {
		return fmt.Errorf("record order %s voided unpaid: %w", orderID, err)
	}
	return nil
}

// VoidedUnpaid implements domain.PaymentStore.
func (s *Payments) VoidedUnpaid(ctx context.Context, orderID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM voided_orders WHERE order_id = $1`, orderID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read whether order %s was voided unpaid: %w", orderID, err)
	}
	return n > 0, nil
}

// Get implements domain.PaymentStore.
func (s *Payments) Get(ctx context.Context, id string) (domain.Payment, error) {
	return s.one(ctx, "payment "+id, `SELECT `+columns+` FROM payments WHERE id = $1`, id)
}

// GetByOrder implements domain.PaymentStore.
func (s *Payments) GetByOrder(ctx context.Context, orderID string) (domain.Payment, error) {
	return s.one(ctx, "payment of order "+orderID, `SELECT `+columns+` FROM payments WHERE order_id = $1`, orderID)
}

func (s *Payments) one(ctx context.Context, what, query string, arg string) (domain.Payment, error) {
	p, err := scan(s.db.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Payment{}, fmt.Errorf("%s: %w", what, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Payment{}, fmt.Errorf("select %s: %w", what, err)
	}
	return p, nil
}

// Transition implements domain.PaymentStore with one guarded UPDATE: of two
// requests that change a payment from the same state, one changes it.
func (s *Payments) Transition(ctx context.Context, p domain.Payment, from domain.State) error {
	res, err := s.db.ExecContext(ctx, `UPDATE payments
		SET state = $1, provider_ref = $2, decline_code = $3, decline_message = $4, updated_at = $5
		WHERE id = $6 AND state = $7`,
		string(p.State), p.ProviderRef, p.DeclineCode, p.DeclineMessage, p.UpdatedAt.UTC(), p.ID, string(from))
	if err != nil {
		return fmt.Errorf("update payment %s to %s: %w", p.ID, p.State, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update payment %s to %s: %w", p.ID, p.State, err)
	}
	if n == 0 {
		return fmt.Errorf("payment %s is no longer %s: %w", p.ID, from, domain.ErrConflict)
	}
	return nil
}

// ListByUser implements domain.PaymentStore.
func (s *Payments) ListByUser(ctx context.Context, userID, beforeID string, limit int) ([]domain.Payment, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+columns+` FROM payments WHERE user_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3`,
		userID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list payments of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []domain.Payment
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list payments of %s: %w", userID, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list payments of %s: %w", userID, err)
	}
	return out, nil
}

// scan reads one row of columns.
func scan(row interface{ Scan(dest ...any) error }) (domain.Payment, error) {
	var (
		p                domain.Payment
		state            string
		created, updated timestamp
	)
	if err := row.Scan(&p.ID, &p.OrderID, &p.UserID, &p.Amount.Currency, &p.Amount.AmountMinor, &state, &p.Provider,
		&p.ProviderRef, &p.PaymentMethod, &p.IdempotencyKey, &p.DeclineCode, &p.DeclineMessage, &created, &updated); err != nil {
		return domain.Payment{}, err
	}
	p.State = domain.State(state)
	p.CreatedAt, p.UpdatedAt = created.UTC(), updated.UTC()
	return p, nil
}

// timestamp scans a time that PostgreSQL returns as time.Time and SQLite
// may return as text, whatever the driver's column type detection did.
type timestamp struct{ time.Time }

// sqliteTimeLayouts are the text forms a time takes in SQLite: the driver's
// own and SQLite's CURRENT_TIMESTAMP.
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
}

// Scan implements sql.Scanner.
func (t *timestamp) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		t.Time = v
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	}
	return fmt.Errorf("scan timestamp: unsupported %T", src)
}

func (t *timestamp) parse(s string) error {
	for _, layout := range sqliteTimeLayouts {
		if parsed, err := time.Parse(layout, s); err == nil {
			t.Time = parsed
			return nil
		}
	}
	return fmt.Errorf("scan timestamp: unknown format %q", s)
}
