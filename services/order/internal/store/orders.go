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
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/google/wire"

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
	cancel_reason, created_at, updated_at, requested_items, payment_method, payment_state, payment_id,
	failure_reason, cancel_requested, stock_released`

// createStatement inserts a new order, orderColumns in that order. ON
// CONFLICT DO NOTHING covers both the id and (user_id, idempotency_key): a
// concurrent duplicate waits for the first insert to commit and then
// inserts nothing, rather than fail.
const createStatement = `INSERT INTO orders (` + orderColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT DO NOTHING`

// createAttempts bounds how often Create runs its statement when the
// connection is lost with the outcome unknown; a connection that fails
// before the statement is sent is retried by platform store itself.
const createAttempts = 3

// Create implements domain.OrderStore, in one statement. It is idempotent:
// when the connection is lost with the outcome unknown, running it again
// either stores the order or, if the first attempt did land, inserts
// nothing and reports ErrAlreadyExists, which CreateOrder answers with the
// stored order.
func (s *Store) Create(ctx context.Context, o domain.Order) error {
	requested, err := encodeRequested(o.Requested)
	if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	for attempt := 1; ; attempt++ {
		var res sql.Result
		res, err = s.db.ExecContext(ctx, createStatement,
			o.ID, o.UserID, o.IdempotencyKey, o.Fingerprint, string(o.Status), o.Total.Currency, o.Total.AmountMinor,
			o.CancelReason, o.CreatedAt.UTC(), o.UpdatedAt.UTC(), requested, o.PaymentMethod, string(paymentState(o)),
			o.PaymentID, o.FailureReason, o.CancelRequested, o.StockReleased)
		if err == nil {
			return created(o, res)
		}
		if !platformstore.ConnectionLost(err) || attempt == createAttempts || ctx.Err() != nil {
			return fmt.Errorf("create order %s: %w", o.ID, err)
		}
	}
}

// paymentState is o's payment state, NONE when unset.
func paymentState(o domain.Order) domain.PaymentState {
	if o.PaymentState == "" {
		return domain.PaymentNone
	}
	return o.PaymentState
}

// created turns the result of the statement that inserts o into
// ErrAlreadyExists when it inserted nothing.
func created(o domain.Order, res sql.Result) error {
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
		o                   domain.Order
		status, payment     string
		requested           string
		cancelled, released bool
	)
	err := row.Scan(&o.ID, &o.UserID, &o.IdempotencyKey, &o.Fingerprint, &status, &o.Total.Currency, &o.Total.AmountMinor,
		&o.CancelReason, &o.CreatedAt, &o.UpdatedAt, &requested, &o.PaymentMethod, &payment, &o.PaymentID,
		&o.FailureReason, &cancelled, &released)
	if err != nil {
		return domain.Order{}, err
	}
	o.Status, o.PaymentState = domain.Status(status), domain.PaymentState(payment)
	o.CancelRequested, o.StockReleased = cancelled, released
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	if o.Requested, err = decodeRequested(requested); err != nil {
		return domain.Order{}, fmt.Errorf("order %s: %w", o.ID, err)
	}
	return o, nil
}

// requestedItem is one line of requested_items.
type requestedItem struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// encodeRequested is the requested_items of items: "" for none (orders
// stored before the saga).
func encodeRequested(items []domain.Item) (string, error) {
	if len(items) == 0 {
		return "", nil
	}
	lines := make([]requestedItem, len(items))
	for i, it := range items {
		lines[i] = requestedItem{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	b, err := json.Marshal(lines)
	if err != nil {
		return "", fmt.Errorf("encode requested items: %w", err)
	}
	return string(b), nil
}

func decodeRequested(s string) ([]domain.Item, error) {
	if s == "" {
		return nil, nil
	}
	var lines []requestedItem
	if err := json.Unmarshal([]byte(s), &lines); err != nil {
		return nil, fmt.Errorf("decode requested items: %w", err)
	}
	items := make([]domain.Item, len(lines))
	for i, l := range lines {
		items[i] = domain.Item{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return items, nil
}

// oneRow reports whether a statement changed a row.
func oneRow(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("rows affected: %w", err)
	}
	return n > 0, nil
}
