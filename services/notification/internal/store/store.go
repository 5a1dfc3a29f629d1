// Package store keeps notifications and their delivery outbox in SQL, on
// SQLite or PostgreSQL. It implements domain.NotificationStore for reads,
// domain.Tx for writes inside the event consumer's transaction and
// domain.DeliveryQueue for the delivery worker.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"

	"github.com/google/wire"
	"go.opentelemetry.io/otel/propagation"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
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

// ProviderSet provides the Store as the domain's NotificationStore and
// DeliveryQueue, and the notification migrations to platform/store.Provide.
var ProviderSet = wire.NewSet(New, ProvideMigrations,
	wire.Bind(new(domain.NotificationStore), new(*Store)),
	wire.Bind(new(domain.DeliveryQueue), new(*Store)))

// ProvideMigrations gives platform/store.Provide the notification schema.
func ProvideMigrations() platformstore.Migrations { return Migrations() }

// Store is the notifications table and the delivery outbox beside it.
type Store struct {
	db *platformstore.DB
}

var (
	_ domain.NotificationStore = (*Store)(nil)
	_ domain.DeliveryQueue     = (*Store)(nil)
	_ domain.Tx                = txStore{}
)

// New returns a Store over db, which must be migrated with Migrations.
func New(db *platformstore.DB) *Store {
	return &Store{db: db}
}

const notificationColumns = `id, user_id, order_id, kind, title, body, event_id, created_at`

// listColumns are a notification's columns and its delivery state, "NONE"
// when it has no delivery row (no channel was configured when it was stored).
const listColumns = `n.id, n.user_id, n.order_id, n.kind, n.title, n.body, n.event_id, n.created_at,
	COALESCE(d.state, 'NONE')`

// ListByUser implements domain.NotificationStore.
func (s *Store) ListByUser(ctx context.Context, userID, beforeID string, limit int) ([]domain.Notification, error) {
	const from = ` FROM notifications n LEFT JOIN notification_deliveries d ON d.notification_id = n.id`
	query, args := `SELECT `+listColumns+from+`
		WHERE n.user_id = $1 ORDER BY n.id DESC LIMIT $2`, []any{userID, limit}
	if beforeID != "" {
		query, args = `SELECT `+listColumns+from+`
			WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3`, []any{userID, beforeID, limit}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications of user %s: %w", userID, err)
	}
	defer rows.Close()
	var ns []domain.Notification
	for rows.Next() {
		var (
			n           domain.Notification
			kind, state string
		)
		if err := rows.Scan(&n.ID, &n.UserID, &n.OrderID, &kind, &n.Title, &n.Body, &n.EventID, &n.CreatedAt, &state); err != nil {
			return nil, fmt.Errorf("list notifications of user %s: %w", userID, err)
		}
		n.Kind = domain.Kind(kind)
		n.Delivery = domain.DeliveryState(state)
		n.CreatedAt = n.CreatedAt.UTC()
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notifications of user %s: %w", userID, err)
	}
	return ns, nil
}

// Tx returns the domain's storage work on tx, a transaction someone else
// owns and commits: the event consumer's, which also writes its inbox.
func (s *Store) Tx(tx *sql.Tx) domain.Tx { return txStore{tx: tx} }

// txStore is domain.Tx on one SQL transaction.
type txStore struct {
	tx *sql.Tx
}

// CreateNotification implements domain.Tx. ON CONFLICT DO NOTHING on the
// unique event_id makes a second transaction storing the same event wait
// for the first and then store nothing, rather than fail.
func (t txStore) CreateNotification(ctx context.Context, n domain.Notification) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO notifications (`+notificationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING`,
		n.ID, n.UserID, n.OrderID, string(n.Kind), n.Title, n.Body, n.EventID, n.CreatedAt.UTC())
	if err != nil {
		return false, fmt.Errorf("insert notification of event %q: %w", n.EventID, err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert notification of event %q: rows affected: %w", n.EventID, err)
	}
	return rows > 0, nil
}

// EnqueueDelivery implements domain.Tx: the delivery row, due at n's
// creation time, with the trace context of ctx so the delivery continues the
// event's trace.
func (t txStore) EnqueueDelivery(ctx context.Context, n domain.Notification) error {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	tc := ""
	if len(carrier) > 0 {
		b, err := json.Marshal(carrier)
		if err != nil {
			return fmt.Errorf("queue delivery of notification %s: trace context: %w", n.ID, err)
		}
		tc = string(b)
	}
	at := n.CreatedAt.UTC()
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO notification_deliveries
		(notification_id, state, attempts, next_attempt_at, trace_context, created_at, updated_at)
		VALUES ($1, 'PENDING', 0, $2, $3, $2, $2)`, n.ID, at, tc); err != nil {
		return fmt.Errorf("queue delivery of notification %s: %w", n.ID, err)
	}
	return nil
}
