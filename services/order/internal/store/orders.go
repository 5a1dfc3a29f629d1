// Package store keeps orders in SQL, on SQLite or PostgreSQL, and implements
// domain.OrderStore. Every change is written in one transaction with its
// event in the outbox (platform/events), so the event is published if and
// only if the change commits. Every statement is written once for both
// dialects.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/google/wire"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
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

// ProviderSet provides the order migrations to platform/store.Provide. The
// app provides the *Store itself (once the outbox schema is in place) and
// binds it to domain.OrderStore.
var ProviderSet = wire.NewSet(ProvideMigrations)

// ProvideMigrations gives platform/store.Provide the order schema.
func ProvideMigrations() platformstore.Migrations { return Migrations() }

// Store is the order service's SQL storage.
type Store struct {
	db       *platformstore.DB
	onCommit func()
}

var _ domain.OrderStore = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithCommitHook calls fn after every commit that enqueued an event, such
// as events.Relay.Notify, so the event is published without waiting for
// the relay's next poll.
func WithCommitHook(fn func()) Option {
	return func(s *Store) { s.onCommit = fn }
}

// New returns a Store over db, which must be migrated with Migrations and
// hold the outbox (events.EnsureSchema).
func New(db *platformstore.DB, opts ...Option) *Store {
	s := &Store{db: db, onCommit: func() {}}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// querier is what both *sql.DB and *sql.Tx offer, so reads are written once.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const orderColumns = `id, user_id, idempotency_key, request_fingerprint, status, currency, total_minor,
	cancel_reason, created_at, updated_at`

// Place implements domain.OrderStore. ON CONFLICT DO NOTHING covers both the
// id and (user_id, idempotency_key): a concurrent duplicate waits for the
// first insert to commit and then inserts nothing, rather than fail.
//
// On PostgreSQL the order, its items and its OrderPlaced are one statement
// (placePostgres): one round trip, atomic on its own. Elsewhere they are
// three kinds of insert in one transaction.
//
// Either way Place is idempotent: when the connection is lost with the
// outcome unknown (during the statement or its COMMIT), running it again
// either places the order or, if the first attempt did land, inserts
// nothing and reports ErrAlreadyExists, which CreateOrder answers with the
// stored order. No order or event is doubled.
func (s *Store) Place(ctx context.Context, o domain.Order, e domain.OrderPlaced) error {
	envelope, err := placedEnvelope(e)
	if err != nil {
		return err
	}
	if s.db.Dialect == platformstore.Postgres {
		err = s.placePostgres(ctx, o, envelope)
	} else {
		err = s.placeInTx(ctx, o, envelope)
	}
	if err != nil {
		return err
	}
	s.onCommit()
	return nil
}

// placeStatement inserts the order ($1 to $10, orderColumns), its items
// (arrays $11 to $15) and its outbox row ($16 to $19), the last two only
// when the order was inserted. It returns a row when it placed the order.
const placeStatement = `WITH placed AS (
	INSERT INTO orders (` + orderColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING
	RETURNING id
), lines AS (
	INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_minor, line_total_minor)
	SELECT placed.id, l.product_id, l.name, l.quantity, l.unit_price_minor, l.line_total_minor
	FROM placed, unnest($11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[])
		AS l (product_id, name, quantity, unit_price_minor, line_total_minor)
), event AS (
	INSERT INTO outbox (event_id, subject, payload, headers)
	SELECT $16, $17, $18, $19 FROM placed
)
SELECT 1 FROM placed`

// placeAttempts bounds how often placePostgres runs its statement when the
// connection is lost with the outcome unknown; a connection that fails
// before the statement is sent is retried by platform store itself.
const placeAttempts = 3

func (s *Store) placePostgres(ctx context.Context, o domain.Order, envelope events.Envelope) error {
	row, err := events.NewOutboxRow(ctx, envelope)
	if err != nil {
		return fmt.Errorf("enqueue OrderPlaced of order %s: %w", o.ID, err)
	}
	n := len(o.Items)
	ids, names := make([]string, n), make([]string, n)
	quantities, prices, totals := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, it := range o.Items {
		ids[i], names[i], quantities[i] = it.ProductID, it.Name, it.Quantity
		prices[i], totals[i] = it.UnitPrice.AmountMinor, it.LineTotal.AmountMinor
	}
	for attempt := 1; ; attempt++ {
		var res sql.Result
		res, err = s.db.ExecContext(ctx, placeStatement,
			o.ID, o.UserID, o.IdempotencyKey, o.Fingerprint, string(o.Status), o.Total.Currency, o.Total.AmountMinor,
			o.CancelReason, o.CreatedAt.UTC(), o.UpdatedAt.UTC(),
			ids, names, quantities, prices, totals,
			row.EventID, row.Subject, row.Payload, row.Headers)
		if err == nil {
			return placed(o, res)
		}
		if !platformstore.ConnectionLost(err) || attempt == placeAttempts || ctx.Err() != nil {
			return fmt.Errorf("place order %s: %w", o.ID, err)
		}
	}
}

// placed turns the result of the statement that inserts o into
// ErrAlreadyExists when it inserted nothing.
func placed(o domain.Order, res sql.Result) error {
	inserted, err := oneRow(res)
	if err != nil {
		return fmt.Errorf("insert order %s: %w", o.ID, err)
	}
	if !inserted {
		return fmt.Errorf("order %s of user %s with idempotency key %q: %w",
			o.ID, o.UserID, o.IdempotencyKey, domain.ErrAlreadyExists)
	}
	return nil
}

// placeInTx is Place as one transaction of single-row inserts, for SQLite,
// where a statement costs no round trip.
func (s *Store) placeInTx(ctx context.Context, o domain.Order, envelope events.Envelope) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
			o.ID, o.UserID, o.IdempotencyKey, o.Fingerprint, string(o.Status), o.Total.Currency, o.Total.AmountMinor,
			o.CancelReason, o.CreatedAt.UTC(), o.UpdatedAt.UTC())
		if err != nil {
			return fmt.Errorf("insert order %s: %w", o.ID, err)
		}
		if err := placed(o, res); err != nil {
			return err
		}
		for _, it := range o.Items {
			_, err := tx.ExecContext(ctx, `INSERT INTO order_items
				(order_id, product_id, name, quantity, unit_price_minor, line_total_minor)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				o.ID, it.ProductID, it.Name, it.Quantity, it.UnitPrice.AmountMinor, it.LineTotal.AmountMinor)
			if err != nil {
				return fmt.Errorf("insert order %s: item %q: %w", o.ID, it.ProductID, err)
			}
		}
		if err := events.Enqueue(ctx, tx, envelope); err != nil {
			return fmt.Errorf("enqueue OrderPlaced of order %s: %w", o.ID, err)
		}
		return nil
	}, platformstore.Idempotent())
}

// Get implements domain.OrderStore.
func (s *Store) Get(ctx context.Context, id string) (domain.Order, error) {
	o, err := scanOrder(s.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Order{}, fmt.Errorf("order %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return s.withItems(ctx, o)
}

// ByKey implements domain.OrderStore.
func (s *Store) ByKey(ctx context.Context, userID, key string) (domain.Order, error) {
	o, err := scanOrder(s.db.QueryRowContext(ctx,
		`SELECT `+orderColumns+` FROM orders WHERE user_id = $1 AND idempotency_key = $2`, userID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Order{}, fmt.Errorf("order of user %s with idempotency key %q: %w", userID, key, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("get order of user %s by idempotency key: %w", userID, err)
	}
	return s.withItems(ctx, o)
}

// ListByUser implements domain.OrderStore. The row comparison is spelled
// out, since SQLite and PostgreSQL agree on it and the index serves it.
func (s *Store) ListByUser(ctx context.Context, userID string, after domain.Cursor, limit int) ([]domain.Order, error) {
	query := `SELECT ` + orderColumns + ` FROM orders WHERE user_id = $1`
	args := []any{userID}
	if !after.IsZero() {
		query += ` AND (created_at < $2 OR (created_at = $2 AND id < $3))`
		args = append(args, after.CreatedAt.UTC(), after.ID)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT $` + strconv.Itoa(len(args)+1)
	args = append(args, limit)

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders of user %s: %w", userID, err)
	}
	defer rows.Close()
	var orders []domain.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list orders of user %s: %w", userID, err)
		}
		orders = append(orders, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list orders of user %s: %w", userID, err)
	}
	if err := s.fillItems(ctx, s.db, orders); err != nil {
		return nil, err
	}
	return orders, nil
}

// Cancel implements domain.OrderStore. The status guard makes a concurrent
// second cancel wait for the first and then change nothing.
func (s *Store) Cancel(ctx context.Context, e domain.OrderCancelled) (bool, error) {
	envelope, err := cancelledEnvelope(e)
	if err != nil {
		return false, err
	}
	o := e.Order
	cancelled := false
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		cancelled = false // InTx may run this again
		res, err := tx.ExecContext(ctx, `UPDATE orders SET status = $1, cancel_reason = $2, updated_at = $3
			WHERE id = $4 AND status = $5`,
			string(domain.StatusCancelled), e.Reason, o.UpdatedAt.UTC(), o.ID, string(domain.StatusPlaced))
		if err != nil {
			return fmt.Errorf("cancel order %s: %w", o.ID, err)
		}
		if cancelled, err = oneRow(res); err != nil || !cancelled {
			return err
		}
		if err := events.Enqueue(ctx, tx, envelope); err != nil {
			return fmt.Errorf("enqueue OrderCancelled of order %s: %w", o.ID, err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if cancelled {
		s.onCommit()
	}
	return cancelled, nil
}

// withItems reads o's lines into it.
func (s *Store) withItems(ctx context.Context, o domain.Order) (domain.Order, error) {
	orders := []domain.Order{o}
	if err := s.fillItems(ctx, s.db, orders); err != nil {
		return domain.Order{}, err
	}
	return orders[0], nil
}

// fillItems reads the lines of every order in one query.
func (s *Store) fillItems(ctx context.Context, q querier, orders []domain.Order) error {
	if len(orders) == 0 {
		return nil
	}
	byID := make(map[string]*domain.Order, len(orders))
	placeholders := make([]string, len(orders))
	args := make([]any, len(orders))
	for i := range orders {
		byID[orders[i].ID] = &orders[i]
		placeholders[i] = "$" + strconv.Itoa(i+1)
		args[i] = orders[i].ID
	}
	rows, err := q.QueryContext(ctx, `SELECT order_id, product_id, name, quantity, unit_price_minor, line_total_minor
		FROM order_items WHERE order_id IN (`+strings.Join(placeholders, ", ")+`) ORDER BY order_id, product_id`, args...)
	if err != nil {
		return fmt.Errorf("get order items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			orderID string
			it      domain.OrderItem
		)
		if err := rows.Scan(&orderID, &it.ProductID, &it.Name, &it.Quantity, &it.UnitPrice.AmountMinor, &it.LineTotal.AmountMinor); err != nil {
			return fmt.Errorf("get order items: %w", err)
		}
		o := byID[orderID]
		it.UnitPrice.Currency, it.LineTotal.Currency = o.Total.Currency, o.Total.Currency
		o.Items = append(o.Items, it)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("get order items: %w", err)
	}
	return nil
}

// scanOrder reads orderColumns from a *sql.Row or *sql.Rows.
func scanOrder(row interface{ Scan(...any) error }) (domain.Order, error) {
	var (
		o      domain.Order
		status string
	)
	err := row.Scan(&o.ID, &o.UserID, &o.IdempotencyKey, &o.Fingerprint, &status, &o.Total.Currency, &o.Total.AmountMinor,
		&o.CancelReason, &o.CreatedAt, &o.UpdatedAt)
	o.Status = domain.Status(status)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// oneRow reports whether a statement changed a row.
func oneRow(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("rows affected: %w", err)
	}
	return n > 0, nil
}
