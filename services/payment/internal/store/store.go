// Package store keeps the payment service's payments in SQL, on SQLite
// or PostgreSQL, implementing domain.PaymentStore. Every statement is
// written once for both dialects.
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

const columns = `id, owner_id, name, created_at`

// Create implements domain.PaymentStore.
func (s *Payments) Create(ctx context.Context, payment domain.Payment) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO payments (`+columns+`) VALUES ($1, $2, $3, $4)`,
		payment.ID, payment.OwnerID, payment.Name, payment.CreatedAt.UTC())
	if platformstore.IsUniqueViolation(err) {
		return fmt.Errorf("payment %s: %w", payment.ID, domain.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("insert payment %s: %w", payment.ID, err)
	}
	return nil
}

// Get implements domain.PaymentStore.
func (s *Payments) Get(ctx context.Context, id string) (domain.Payment, error) {
	payment, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM payments WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Payment{}, fmt.Errorf("payment %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Payment{}, fmt.Errorf("select payment %s: %w", id, err)
	}
	return payment, nil
}

// ListByOwner implements domain.PaymentStore.
func (s *Payments) ListByOwner(ctx context.Context, ownerID, afterID string, limit int) ([]domain.Payment, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+columns+` FROM payments WHERE owner_id = $1 AND id > $2 ORDER BY id LIMIT $3`, ownerID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list payments of %s: %w", ownerID, err)
	}
	defer rows.Close()
	var out []domain.Payment
	for rows.Next() {
		payment, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list payments of %s: %w", ownerID, err)
		}
		out = append(out, payment)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list payments of %s: %w", ownerID, err)
	}
	return out, nil
}

// scan reads one row of columns.
func scan(row interface{ Scan(dest ...any) error }) (domain.Payment, error) {
	var (
		payment domain.Payment
		at      timestamp
	)
	if err := row.Scan(&payment.ID, &payment.OwnerID, &payment.Name, &at); err != nil {
		return domain.Payment{}, err
	}
	payment.CreatedAt = at.UTC()
	return payment, nil
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
