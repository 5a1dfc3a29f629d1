package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/propagation"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
)

// traceContext is the W3C traceparent/tracestate propagator a delivery row
// keeps the event's trace in.
var traceContext = propagation.TraceContext{}

// maxReasonLen bounds the last error a delivery row keeps.
const maxReasonLen = 1000

// claimSQL selects the due deliveries with their notifications. On
// PostgreSQL, FOR UPDATE ... SKIP LOCKED lets replicas claim side by side,
// each taking rows the others have not locked; SQLite has one writer at a
// time (InTx begins IMMEDIATE), which serialises claims the same way.
var claimSQL = map[platformstore.Dialect]string{
	platformstore.Postgres: claimSelect + ` FOR UPDATE OF d SKIP LOCKED`,
	platformstore.SQLite:   claimSelect,
}

const claimSelect = `SELECT n.id, n.user_id, n.order_id, n.kind, n.title, n.body, n.event_id, n.created_at,
		d.attempts, d.trace_context
	FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id
	WHERE d.state = 'PENDING' AND d.next_attempt_at <= $1
	ORDER BY d.next_attempt_at, d.notification_id
	LIMIT $2`

// ClaimDue implements domain.DeliveryQueue. In one transaction it reads the
// due rows and moves each one's next_attempt_at to leaseUntil with its
// attempt counted, so that no other claim takes it until the lease ends.
func (s *Store) ClaimDue(ctx context.Context, now, leaseUntil time.Time, limit int) ([]domain.Delivery, error) {
	var claimed []domain.Delivery
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if claimed, err = s.due(ctx, tx, now, limit); err != nil {
			return err
		}
		for _, d := range claimed {
			if _, err := tx.ExecContext(ctx, `UPDATE notification_deliveries
				SET attempts = $2, next_attempt_at = $3, updated_at = $4
				WHERE notification_id = $1`, d.Notification.ID, d.Attempt, leaseUntil.UTC(), now.UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	return claimed, nil
}

// due reads the deliveries ClaimDue claims, each with its attempt counted.
// The rows are closed on return, before ClaimDue updates them in the same
// transaction.
func (s *Store) due(ctx context.Context, tx *sql.Tx, now time.Time, limit int) ([]domain.Delivery, error) {
	rows, err := tx.QueryContext(ctx, claimSQL[s.db.Dialect], now.UTC(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var due []domain.Delivery
	for rows.Next() {
		var (
			d        domain.Delivery
			kind, tc string
		)
		n := &d.Notification
		if err := rows.Scan(&n.ID, &n.UserID, &n.OrderID, &kind, &n.Title, &n.Body, &n.EventID, &n.CreatedAt,
			&d.Attempt, &tc); err != nil {
			return nil, err
		}
		n.Kind, n.Delivery, n.CreatedAt = domain.Kind(kind), domain.DeliveryPending, n.CreatedAt.UTC()
		d.Attempt++
		if tc != "" {
			// A row whose trace context does not read is still delivered, in a new trace.
			_ = json.Unmarshal([]byte(tc), &d.TraceContext)
		}
		due = append(due, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return due, nil
}

// MarkDelivered implements domain.DeliveryQueue. Like every mark, it
// applies only to the claim that made attempt d.Attempt: a claim whose
// lease ended and that another claim took over changes nothing.
func (s *Store) MarkDelivered(ctx context.Context, d domain.Delivery, at time.Time) error {
	return s.mark(ctx, d, "mark delivered", `state = 'DELIVERED', last_error = '', updated_at = $3`, at.UTC())
}

// MarkRetry implements domain.DeliveryQueue.
func (s *Store) MarkRetry(ctx context.Context, d domain.Delivery, next time.Time, reason string) error {
	return s.mark(ctx, d, "schedule retry", `next_attempt_at = $3, last_error = $4, updated_at = $5`,
		next.UTC(), truncate(reason, maxReasonLen), time.Now().UTC())
}

// MarkFailed implements domain.DeliveryQueue.
func (s *Store) MarkFailed(ctx context.Context, d domain.Delivery, at time.Time, reason string) error {
	return s.mark(ctx, d, "mark failed", `state = 'FAILED', last_error = $4, updated_at = $3`,
		at.UTC(), truncate(reason, maxReasonLen))
}

func (s *Store) mark(ctx context.Context, d domain.Delivery, what, set string, args ...any) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE notification_deliveries SET `+set+`
		WHERE notification_id = $1 AND attempts = $2 AND state = 'PENDING'`,
		append([]any{d.Notification.ID, d.Attempt}, args...)...); err != nil {
		return fmt.Errorf("%s: delivery of notification %s: %w", what, d.Notification.ID, err)
	}
	return nil
}

// Counts implements domain.DeliveryQueue.
func (s *Store) Counts(ctx context.Context) (pending, failed int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN state = 'PENDING' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN state = 'FAILED' THEN 1 ELSE 0 END), 0)
		FROM notification_deliveries WHERE state IN ('PENDING', 'FAILED')`).Scan(&pending, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("count deliveries: %w", err)
	}
	return pending, failed, nil
}

// DeliveryRow is a delivery row as stored, for tests and operators.
type DeliveryRow struct {
	State         domain.DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
}

// Delivery reads the delivery row of notification id.
func (s *Store) Delivery(ctx context.Context, id string) (DeliveryRow, error) {
	var (
		r     DeliveryRow
		state string
	)
	err := s.db.QueryRowContext(ctx, `SELECT state, attempts, next_attempt_at, last_error
		FROM notification_deliveries WHERE notification_id = $1`, id).Scan(&state, &r.Attempts, &r.NextAttemptAt, &r.LastError)
	if err != nil {
		return DeliveryRow{}, fmt.Errorf("read delivery of notification %s: %w", id, err)
	}
	r.State, r.NextAttemptAt = domain.DeliveryState(state), r.NextAttemptAt.UTC()
	return r, nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
