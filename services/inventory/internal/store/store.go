// Package store keeps the inventory in SQL, on SQLite or PostgreSQL, and
// implements domain.Store. Every statement is written once for both
// dialects; stock changes are guarded in the statement itself and the
// schema's CHECK (stock >= 0) backs them up.
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
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
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

// ProviderSet provides the inventory migrations to platform/store.Provide.
// The app provides the *Store itself (seeding the catalog when configured)
// and binds it to domain.Store.
var ProviderSet = wire.NewSet(ProvideMigrations)

// ProvideMigrations gives platform/store.Provide the inventory schema.
func ProvideMigrations() platformstore.Migrations { return Migrations() }

// Store is the inventory's SQL storage.
type Store struct {
	db *platformstore.DB
}

var _ domain.Store = (*Store)(nil)

// New returns a Store over db, which must be migrated with Migrations.
func New(db *platformstore.DB) *Store {
	return &Store{db: db}
}

// querier is what both *sql.DB and *sql.Tx offer, so reads are written once.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const productColumns = `id, name, description, price_minor, currency, stock, updated_at`

// ListProducts implements domain.Store.
func (s *Store) ListProducts(ctx context.Context, afterID string, limit int) ([]domain.Product, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+productColumns+` FROM products WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list products after %q: %w", afterID, err)
	}
	defer rows.Close()
	var ps []domain.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return ps, nil
}

// GetProduct implements domain.Store.
func (s *Store) GetProduct(ctx context.Context, id string) (domain.Product, error) {
	return getProduct(ctx, s.db, id)
}

// AddProducts inserts the products whose ids are not in the store yet and
// leaves existing ones untouched. It reports how many it inserted.
func (s *Store) AddProducts(ctx context.Context, ps ...domain.Product) (int, error) {
	added := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		added = 0 // InTx may run this again
		for _, p := range ps {
			res, err := tx.ExecContext(ctx, `INSERT INTO products (`+productColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
				p.ID, p.Name, p.Description, p.Price.AmountMinor, p.Price.Currency, p.Stock, p.UpdatedAt.UTC())
			if err != nil {
				return fmt.Errorf("add product %q: %w", p.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("add product %q: %w", p.ID, err)
			}
			added += int(n)
		}
		return nil
	})
	return added, err
}

// ExpiredReservations implements domain.Store. Times compare correctly on
// both dialects: PostgreSQL compares TIMESTAMPTZ, and on SQLite every time
// is written in UTC in one textual layout whose order is time order.
func (s *Store) ExpiredReservations(ctx context.Context, now time.Time, afterOrderID string, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT order_id FROM reservations
		WHERE status = $1 AND expires_at < $2 AND order_id > $3 ORDER BY order_id LIMIT $4`,
		string(domain.StatusReserved), now.UTC(), afterOrderID, limit)
	if err != nil {
		return nil, fmt.Errorf("list expired reservations: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list expired reservations: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list expired reservations: %w", err)
	}
	return ids, nil
}

// InTx implements domain.Store on platform store's InTx, which retries
// serialization failures, deadlocks and a busy SQLite.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx domain.Tx) error) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		return fn(ctx, txStore{tx: tx})
	})
}

// Tx is domain.Tx over tx, a transaction someone else began on this store's
// database and will commit or roll back: the event consumer's, so that an
// event's effect commits in the same transaction as its inbox row.
func (s *Store) Tx(tx *sql.Tx) domain.Tx { return txStore{tx: tx} }

// txStore is domain.Tx on one SQL transaction.
type txStore struct {
	tx *sql.Tx
}

// GetProduct implements domain.Tx.
func (t txStore) GetProduct(ctx context.Context, id string) (domain.Product, error) {
	return getProduct(ctx, t.tx, id)
}

// TakeStock implements domain.Tx. The guard in the WHERE clause is checked
// against the row as it is once any concurrent writer has committed, so no
// two transactions can both take the last unit.
func (t txStore) TakeStock(ctx context.Context, productID string, quantity int64, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx,
		`UPDATE products SET stock = stock - $1, updated_at = $2 WHERE id = $3 AND stock >= $1`,
		quantity, at.UTC(), productID)
	if err != nil {
		return false, fmt.Errorf("take %d units of product %q: %w", quantity, productID, err)
	}
	return oneRow(res)
}

// PutStock implements domain.Tx.
func (t txStore) PutStock(ctx context.Context, productID string, quantity int64, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx,
		`UPDATE products SET stock = stock + $1, updated_at = $2 WHERE id = $3`,
		quantity, at.UTC(), productID)
	if err != nil {
		return false, fmt.Errorf("put %d units of product %q: %w", quantity, productID, err)
	}
	return oneRow(res)
}

// RecordAdjustment implements domain.Tx.
func (t txStore) RecordAdjustment(ctx context.Context, a domain.StockAdjustment) error {
	_, err := t.tx.ExecContext(ctx,
		`INSERT INTO stock_adjustments (product_id, delta, reason, actor, created_at) VALUES ($1, $2, $3, $4, $5)`,
		a.ProductID, a.Delta, a.Reason, a.Actor, a.At.UTC())
	if err != nil {
		return fmt.Errorf("record stock adjustment of product %q: %w", a.ProductID, err)
	}
	return nil
}

// CreateReservation implements domain.Tx. ON CONFLICT DO NOTHING makes a
// second transaction inserting the same order id wait for the first and
// then insert nothing, rather than fail.
func (t txStore) CreateReservation(ctx context.Context, r domain.Reservation) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO reservations (order_id, status, fingerprint, expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO NOTHING`,
		r.OrderID, string(r.Status), r.Fingerprint(), nullTime(r.ExpiresAt), r.CreatedAt.UTC(), r.UpdatedAt.UTC())
	if err != nil {
		return false, fmt.Errorf("create reservation of order %s: %w", r.OrderID, err)
	}
	created, err := oneRow(res)
	if err != nil || !created {
		return false, err
	}
	for _, it := range r.Items {
		_, err := t.tx.ExecContext(ctx,
			`INSERT INTO reservation_items (order_id, product_id, quantity) VALUES ($1, $2, $3)`,
			r.OrderID, it.ProductID, it.Quantity)
		if err != nil {
			return false, fmt.Errorf("create reservation of order %s: item %q: %w", r.OrderID, it.ProductID, err)
		}
	}
	return true, nil
}

// GetReservation implements domain.Tx.
func (t txStore) GetReservation(ctx context.Context, orderID string) (domain.Reservation, error) {
	r := domain.Reservation{OrderID: orderID}
	var (
		status    string
		expiresAt sql.NullTime
	)
	err := t.tx.QueryRowContext(ctx,
		`SELECT status, expires_at, created_at, updated_at FROM reservations WHERE order_id = $1`, orderID,
	).Scan(&status, &expiresAt, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Reservation{}, fmt.Errorf("reservation of order %s: %w", orderID, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("get reservation of order %s: %w", orderID, err)
	}
	r.Status = domain.ReservationStatus(status)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	if expiresAt.Valid {
		r.ExpiresAt = expiresAt.Time.UTC()
	}

	rows, err := t.tx.QueryContext(ctx,
		`SELECT product_id, quantity FROM reservation_items WHERE order_id = $1 ORDER BY product_id`, orderID)
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("get items of order %s: %w", orderID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var it domain.Item
		if err := rows.Scan(&it.ProductID, &it.Quantity); err != nil {
			return domain.Reservation{}, fmt.Errorf("get items of order %s: %w", orderID, err)
		}
		r.Items = append(r.Items, it)
	}
	if err := rows.Err(); err != nil {
		return domain.Reservation{}, fmt.Errorf("get items of order %s: %w", orderID, err)
	}
	return r, nil
}

// MarkReleased implements domain.Tx. The status guard makes a concurrent
// second release wait for the first and then change nothing.
func (t txStore) MarkReleased(ctx context.Context, orderID string, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx,
		`UPDATE reservations SET status = $1, updated_at = $2 WHERE order_id = $3 AND status IN ($4, $5)`,
		string(domain.StatusReleased), at.UTC(), orderID, string(domain.StatusReserved), string(domain.StatusCommitted))
	if err != nil {
		return false, fmt.Errorf("release reservation of order %s: %w", orderID, err)
	}
	return oneRow(res)
}

// MarkCommitted implements domain.Tx.
func (t txStore) MarkCommitted(ctx context.Context, orderID string, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx,
		`UPDATE reservations SET status = $1, expires_at = NULL, updated_at = $2 WHERE order_id = $3 AND status = $4`,
		string(domain.StatusCommitted), at.UTC(), orderID, string(domain.StatusReserved))
	if err != nil {
		return false, fmt.Errorf("commit reservation of order %s: %w", orderID, err)
	}
	return oneRow(res)
}

// MarkExpired implements domain.Tx. A second sweeper's UPDATE of the same
// row waits for the first to commit and then, finding it RELEASED, changes
// nothing: the stock comes back once. The expiry stays on the row as a
// record of why it was released.
func (t txStore) MarkExpired(ctx context.Context, orderID string, now time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx,
		`UPDATE reservations SET status = $1, updated_at = $2 WHERE order_id = $3 AND status = $4 AND expires_at < $2`,
		string(domain.StatusReleased), now.UTC(), orderID, string(domain.StatusReserved))
	if err != nil {
		return false, fmt.Errorf("expire reservation of order %s: %w", orderID, err)
	}
	return oneRow(res)
}

func getProduct(ctx context.Context, q querier, id string) (domain.Product, error) {
	p, err := scanProduct(q.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Product{}, fmt.Errorf("product %q: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Product{}, fmt.Errorf("get product %q: %w", id, err)
	}
	return p, nil
}

// scanProduct reads productColumns from a *sql.Row or *sql.Rows.
func scanProduct(row interface{ Scan(...any) error }) (domain.Product, error) {
	var p domain.Product
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.Price.AmountMinor, &p.Price.Currency, &p.Stock, &p.UpdatedAt)
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, err
}

// nullTime is t in UTC for a nullable column, NULL for the zero time.
func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC(), Valid: true}
}

// oneRow reports whether a statement changed a row.
func oneRow(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("rows affected: %w", err)
	}
	return n > 0, nil
}
