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
	db       *platformstore.DB
	products *productCache // nil: GetProduct always reads the database
}

var _ domain.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithProductCache makes GetProduct read through a cache in this process
// that holds a product for at most ttl. Every change to a product's stock
// made through this Store drops it once the change commits, so after the
// change returns no read of this process sees the old value; a change
// made by another process (another instance) is seen within ttl. Only
// GetProduct reads the cache: ListProducts and everything in a
// transaction (Reserve's prices and stock above all) read the database.
// A ttl of 0 or less turns the cache off.
func WithProductCache(ttl time.Duration) Option {
	return func(s *Store) {
		if ttl > 0 {
			s.products = newProductCache(ttl, maxCachedProducts, time.Now)
		}
	}
}

// maxCachedProducts bounds the cache: past it, products not cached yet are
// read from the database each time.
const maxCachedProducts = 100_000

// New returns a Store over db, which must be migrated with Migrations.
func New(db *platformstore.DB, opts ...Option) *Store {
	s := &Store{db: db}
	for _, opt := range opts {
		opt(s)
	}
	return s
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

// GetProduct implements domain.Store, through the product cache when the
// Store has one (WithProductCache).
func (s *Store) GetProduct(ctx context.Context, id string) (domain.Product, error) {
	if s.products == nil {
		return getProduct(ctx, s.db, id)
	}
	return s.products.get(ctx, id, func(ctx context.Context) (domain.Product, error) {
		return getProduct(ctx, s.db, id)
	})
}

// AddProducts inserts the products whose ids are not in the store yet and
// leaves existing ones untouched. It reports how many it inserted.
func (s *Store) AddProducts(ctx context.Context, ps ...domain.Product) (int, error) {
	added := 0
	defer func() {
		for _, p := range ps {
			s.invalidate(p.ID)
		}
	}()
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
// serialization failures, deadlocks and a busy SQLite. The products whose
// stock fn changed leave the product cache once InTx returns: after the
// commit, so that no read can cache the old value again.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx domain.Tx) error) error {
	var touched []string
	defer func() { s.invalidate(touched...) }()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		return fn(ctx, txStore{tx: tx, dialect: s.db.Dialect, touched: &touched})
	})
}

// Tx is domain.Tx over tx, a transaction someone else began on this store's
// database and will commit or roll back: the event consumer's, so that an
// event's effect commits in the same transaction as its inbox row. Since
// the commit comes after Tx's work returns, the products it changes leave
// the product cache before their change commits, and a read in between
// may cache the old value again for the cache's ttl: such a change is
// seen as one by another instance is.
func (s *Store) Tx(tx *sql.Tx) domain.Tx {
	return txStore{tx: tx, dialect: s.db.Dialect, invalidate: s.invalidate}
}

// invalidate drops products from the product cache.
func (s *Store) invalidate(ids ...string) {
	if s.products != nil && len(ids) > 0 {
		s.products.invalidate(ids...)
	}
}

// txStore is domain.Tx on one SQL transaction. It notes the products whose
// stock it changes in touched, for InTx to invalidate after the commit, or
// invalidates them at once when it has no touched list (Tx).
type txStore struct {
	tx         *sql.Tx
	dialect    platformstore.Dialect
	touched    *[]string
	invalidate func(ids ...string)
}

// touch notes that the stock of items' products changes in this transaction.
func (t txStore) touch(items []domain.Item) {
	for _, it := range items {
		t.touchIDs(it.ProductID)
	}
}

func (t txStore) touchIDs(ids ...string) {
	switch {
	case t.touched != nil:
		*t.touched = append(*t.touched, ids...)
	case t.invalidate != nil:
		t.invalidate(ids...)
	}
}

// GetProduct implements domain.Tx.
func (t txStore) GetProduct(ctx context.Context, id string) (domain.Product, error) {
	return getProduct(ctx, t.tx, id)
}

// TakeStock implements domain.Tx. The guard in the WHERE clause is checked
// against the row as it is once any concurrent writer has committed, so no
// two transactions can both take the last unit.
func (t txStore) TakeStock(ctx context.Context, productID string, quantity int64, at time.Time) (bool, error) {
	t.touchIDs(productID)
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
	t.touchIDs(productID)
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
	created, err := t.claim(ctx, r)
	if err != nil || !created {
		return false, err
	}
	for _, it := range r.Items {
		if err := t.insertLine(ctx, r.OrderID, it); err != nil {
			return false, err
		}
	}
	return true, nil
}

// ReserveItems implements domain.Tx. On PostgreSQL it is one statement
// (reserveItemsPostgres), so a Reserve costs three round trips whatever
// its number of products: BEGIN, this and COMMIT. Elsewhere it claims the
// order id and then takes each product's stock with a guarded UPDATE that
// returns the price it took it at.
func (t txStore) ReserveItems(ctx context.Context, r domain.Reservation) (bool, []domain.Item, error) {
	t.touch(r.Items)
	if t.dialect == platformstore.Postgres {
		return t.reserveItemsPostgres(ctx, r)
	}
	claimed, err := t.claim(ctx, r)
	if err != nil || !claimed {
		return false, nil, err
	}
	taken := make([]domain.Item, 0, len(r.Items))
	for _, it := range r.Items {
		line := domain.Item{ProductID: it.ProductID, Quantity: it.Quantity}
		err := t.tx.QueryRowContext(ctx, `UPDATE products SET stock = stock - $1, updated_at = $2
			WHERE id = $3 AND stock >= $1 RETURNING name, price_minor, currency`,
			it.Quantity, r.UpdatedAt.UTC(), it.ProductID,
		).Scan(&line.Name, &line.UnitPrice.AmountMinor, &line.UnitPrice.Currency)
		if errors.Is(err, sql.ErrNoRows) {
			continue // unknown or short: the caller rolls back
		}
		if err != nil {
			return false, nil, fmt.Errorf("take %d units of product %q: %w", it.Quantity, it.ProductID, err)
		}
		if err := t.insertLine(ctx, r.OrderID, line); err != nil {
			return false, nil, err
		}
		taken = append(taken, line)
	}
	return true, taken, nil
}

// reserveItemsPostgres claims the order id, locks the products in id order
// (so two reservations can never deadlock on each other), takes the stock
// of those that have enough, guarded as TakeStock is, and stores the lines
// with the name and price each product had: one statement. Nothing is
// taken when the claim finds the order id taken. The result is one row per
// line taken, or one row of NULLs when none was, each saying whether the
// claim inserted.
const reserveItemsPostgres = `WITH want AS (
	SELECT * FROM unnest($1::text[], $2::bigint[]) AS w (product_id, quantity)
), claim AS (
	INSERT INTO reservations (order_id, status, fingerprint, expires_at, created_at, updated_at)
	VALUES ($3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO NOTHING
	RETURNING order_id
), locked AS MATERIALIZED (
	SELECT id FROM products WHERE id = ANY ($1::text[]) AND EXISTS (SELECT FROM claim)
	ORDER BY id FOR UPDATE
), taken AS (
	UPDATE products p SET stock = p.stock - w.quantity, updated_at = $8
	FROM want w JOIN locked l ON l.id = w.product_id
	WHERE p.id = w.product_id AND p.stock >= w.quantity
	RETURNING p.id, w.quantity, p.name, p.price_minor, p.currency
), lines AS (
	INSERT INTO reservation_items (order_id, product_id, quantity, name, unit_price_minor, currency)
	SELECT $3, id, quantity, name, price_minor, currency FROM taken
)
SELECT EXISTS (SELECT FROM claim), t.id, t.quantity, t.name, t.price_minor, t.currency
FROM (VALUES (1)) AS one (x) LEFT JOIN taken t ON true`

func (t txStore) reserveItemsPostgres(ctx context.Context, r domain.Reservation) (bool, []domain.Item, error) {
	ids := make([]string, len(r.Items))
	quantities := make([]int64, len(r.Items))
	for i, it := range r.Items {
		ids[i], quantities[i] = it.ProductID, it.Quantity
	}
	rows, err := t.tx.QueryContext(ctx, reserveItemsPostgres, ids, quantities,
		r.OrderID, string(r.Status), r.Fingerprint(), nullTime(r.ExpiresAt), r.CreatedAt.UTC(), r.UpdatedAt.UTC())
	if err != nil {
		return false, nil, fmt.Errorf("reserve stock for order %s: %w", r.OrderID, err)
	}
	defer rows.Close()
	var (
		claimed bool
		taken   []domain.Item
	)
	for rows.Next() {
		var (
			id, name, currency sql.NullString
			quantity, price    sql.NullInt64
		)
		if err := rows.Scan(&claimed, &id, &quantity, &name, &price, &currency); err != nil {
			return false, nil, fmt.Errorf("reserve stock for order %s: %w", r.OrderID, err)
		}
		if id.Valid {
			taken = append(taken, domain.Item{
				ProductID: id.String, Quantity: quantity.Int64, Name: name.String,
				UnitPrice: domain.Money{AmountMinor: price.Int64, Currency: currency.String},
			})
		}
	}
	if err := rows.Err(); err != nil {
		return false, nil, fmt.Errorf("reserve stock for order %s: %w", r.OrderID, err)
	}
	return claimed, taken, nil
}

// claim inserts r's reservation row unless its order id is taken, and
// reports whether it did.
func (t txStore) claim(ctx context.Context, r domain.Reservation) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO reservations (order_id, status, fingerprint, expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO NOTHING`,
		r.OrderID, string(r.Status), r.Fingerprint(), nullTime(r.ExpiresAt), r.CreatedAt.UTC(), r.UpdatedAt.UTC())
	if err != nil {
		return false, fmt.Errorf("create reservation of order %s: %w", r.OrderID, err)
	}
	return oneRow(res)
}

// insertLine stores one line of the order's reservation, with its price
// when it has one.
func (t txStore) insertLine(ctx context.Context, orderID string, it domain.Item) error {
	var price sql.NullInt64
	if it.UnitPrice.Currency != "" {
		price = sql.NullInt64{Int64: it.UnitPrice.AmountMinor, Valid: true}
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO reservation_items (order_id, product_id, quantity, name, unit_price_minor, currency)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		orderID, it.ProductID, it.Quantity, it.Name, price, it.UnitPrice.Currency)
	if err != nil {
		return fmt.Errorf("create reservation of order %s: item %q: %w", orderID, it.ProductID, err)
	}
	return nil
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

	rows, err := t.tx.QueryContext(ctx, `SELECT product_id, quantity, name, unit_price_minor, currency
		FROM reservation_items WHERE order_id = $1 ORDER BY product_id`, orderID)
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("get items of order %s: %w", orderID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			it    domain.Item
			price sql.NullInt64
		)
		if err := rows.Scan(&it.ProductID, &it.Quantity, &it.Name, &price, &it.UnitPrice.Currency); err != nil {
			return domain.Reservation{}, fmt.Errorf("get items of order %s: %w", orderID, err)
		}
		it.UnitPrice.AmountMinor = price.Int64
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
