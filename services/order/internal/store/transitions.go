package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

// The saga's transitions. Each is one UPDATE guarded by the state it
// leaves (a concurrent driver waits for the first to commit and then
// changes nothing), with the rows and event that go with it in the same
// transaction.

// transition is one guarded change of an order: set (with its args first)
// where guard (with its args after), then more and the event, when the
// change was made, in the same transaction. It reports whether it changed
// the order.
type transition struct {
	what     string
	id       string
	set      string
	setArgs  []any
	guard    string
	guardArg []any
	more     func(ctx context.Context, tx *sql.Tx) error
	event    *events.Envelope
	// pgMore is more as a PostgreSQL CTE over the changed row ("changed"),
	// its placeholders numbered from $1 for pgArgs, so that on PostgreSQL
	// the whole transition is one statement.
	pgMore string
	pgArgs []any
}

// apply runs t in one transaction.
func (s *Store) apply(ctx context.Context, t transition) (bool, error) {
	args := append(append([]any{}, t.setArgs...), t.id)
	// set and guard are constants of this file; every value is a placeholder.
	query := `UPDATE orders SET ` + t.set + ` WHERE id = $` + strconv.Itoa(len(args)) //nolint:gosec // G202: see above
	if t.guard != "" {
		query += ` AND ` + renumber(t.guard, len(args))
		args = append(args, t.guardArg...)
	}
	if s.db.Dialect == platformstore.Postgres && (t.event != nil || t.more != nil) {
		return s.applyPostgres(ctx, t, query, args)
	}
	if t.more == nil && t.event == nil {
		// One statement is atomic on its own: no transaction to pay for.
		res, err := s.db.ExecContext(ctx, query, args...)
		if err != nil {
			return false, fmt.Errorf("%s order %s: %w", t.what, t.id, err)
		}
		return oneRow(res)
	}
	changed := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		changed = false // InTx may run this again
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("%s order %s: %w", t.what, t.id, err)
		}
		if changed, err = oneRow(res); err != nil || !changed {
			return err
		}
		if t.more != nil {
			if err := t.more(ctx, tx); err != nil {
				return fmt.Errorf("%s order %s: %w", t.what, t.id, err)
			}
		}
		if t.event != nil {
			if err := events.Enqueue(ctx, tx, *t.event); err != nil {
				return fmt.Errorf("%s order %s: enqueue its event: %w", t.what, t.id, err)
			}
		}
		return nil
	}, platformstore.Idempotent())
	if err != nil {
		return false, err
	}
	if changed && t.event != nil {
		s.onCommit()
	}
	return changed, nil
}

// applyPostgres runs t as one statement: the guarded UPDATE, then what goes
// with it as CTEs over the row it changed, so nothing is written unless the
// order changed. One round trip, atomic on its own.
func (s *Store) applyPostgres(ctx context.Context, t transition, update string, args []any) (bool, error) {
	query := `WITH changed AS (` + update + ` RETURNING id)`
	if t.pgMore != "" {
		query += `, more AS (` + renumber(t.pgMore, len(args)) + `)`
		args = append(args, t.pgArgs...)
	}
	if t.event != nil {
		row, err := events.NewOutboxRow(ctx, *t.event)
		if err != nil {
			return false, fmt.Errorf("%s order %s: enqueue its event: %w", t.what, t.id, err)
		}
		n := len(args)
		query += fmt.Sprintf(`, event AS (INSERT INTO outbox (event_id, subject, payload, headers) SELECT $%d, $%d, $%d, $%d FROM changed)`,
			n+1, n+2, n+3, n+4)
		args = append(args, row.EventID, row.Subject, row.Payload, row.Headers)
	}
	res, err := s.db.ExecContext(ctx, query+` SELECT 1 FROM changed`, args...)
	if err != nil {
		return false, fmt.Errorf("%s order %s: %w", t.what, t.id, err)
	}
	changed, err := oneRow(res)
	if err != nil {
		return false, err
	}
	if changed && t.event != nil {
		s.onCommit()
	}
	return changed, nil
}

// renumber shifts the placeholders $1, $2, ... of guard by n, so a guard
// is written with its own numbers.
func renumber(guard string, n int) string {
	var b strings.Builder
	for i := 0; i < len(guard); i++ {
		if guard[i] != '$' {
			b.WriteByte(guard[i])
			continue
		}
		j := i + 1
		for j < len(guard) && guard[j] >= '0' && guard[j] <= '9' {
			j++
		}
		k, _ := strconv.Atoi(guard[i+1 : j])
		b.WriteString("$" + strconv.Itoa(k+n))
		i = j - 1
	}
	return b.String()
}

// Price implements domain.OrderStore.
func (s *Store) Price(ctx context.Context, o domain.Order) (bool, error) {
	return s.apply(ctx, transition{
		what: "price", id: o.ID,
		set:      `currency = $1, total_minor = $2, updated_at = $3`,
		setArgs:  []any{o.Total.Currency, o.Total.AmountMinor, o.UpdatedAt.UTC()},
		guard:    `status = $1 AND currency = ''`,
		guardArg: []any{string(domain.StatusPending)},
		more: func(ctx context.Context, tx *sql.Tx) error {
			for _, it := range o.Items {
				_, err := tx.ExecContext(ctx, `INSERT INTO order_items
					(order_id, product_id, name, quantity, unit_price_minor, line_total_minor)
					VALUES ($1, $2, $3, $4, $5, $6)`,
					o.ID, it.ProductID, it.Name, it.Quantity, it.UnitPrice.AmountMinor, it.LineTotal.AmountMinor)
				if err != nil {
					return fmt.Errorf("item %q: %w", it.ProductID, err)
				}
			}
			return nil
		},
		pgMore: `INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_minor, line_total_minor)
			SELECT changed.id, l.product_id, l.name, l.quantity, l.unit_price_minor, l.line_total_minor
			FROM changed, unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
				AS l (product_id, name, quantity, unit_price_minor, line_total_minor)`,
		pgArgs: itemArrays(o.Items),
	})
}

// itemArrays is items as the five arrays Price's PostgreSQL statement
// unnests: product ids, names, quantities, unit prices, line totals.
func itemArrays(items []domain.OrderItem) []any {
	n := len(items)
	ids, names := make([]string, n), make([]string, n)
	quantities, prices, totals := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, it := range items {
		ids[i], names[i], quantities[i] = it.ProductID, it.Name, it.Quantity
		prices[i], totals[i] = it.UnitPrice.AmountMinor, it.LineTotal.AmountMinor
	}
	return []any{ids, names, quantities, prices, totals}
}

// Place implements domain.OrderStore.
func (s *Store) Place(ctx context.Context, e domain.OrderPlaced) (bool, error) {
	envelope, err := placedEnvelope(e)
	if err != nil {
		return false, err
	}
	o := e.Order
	return s.apply(ctx, transition{
		what: "place", id: o.ID,
		set:      `status = $1, payment_state = $2, payment_id = $3, updated_at = $4`,
		setArgs:  []any{string(domain.StatusPlaced), string(domain.PaymentAuthorized), o.PaymentID, o.UpdatedAt.UTC()},
		guard:    `status = $1 AND currency <> ''`,
		guardArg: []any{string(domain.StatusPending)},
		event:    &envelope,
	})
}

// Captured implements domain.OrderStore.
func (s *Store) Captured(ctx context.Context, id string, at time.Time) (bool, error) {
	return s.apply(ctx, transition{
		what: "record the capture of", id: id,
		set:      `payment_state = $1, updated_at = $2`,
		setArgs:  []any{string(domain.PaymentCaptured), at.UTC()},
		guard:    `status = $1 AND payment_state = $2`,
		guardArg: []any{string(domain.StatusPlaced), string(domain.PaymentAuthorized)},
	})
}

// Fail implements domain.OrderStore.
func (s *Store) Fail(ctx context.Context, e domain.OrderFailed) (bool, error) {
	envelope, err := failedEnvelope(e)
	if err != nil {
		return false, err
	}
	o := e.Order
	return s.apply(ctx, transition{
		what: "fail", id: o.ID,
		set:      `status = $1, payment_state = $2, failure_reason = $3, updated_at = $4`,
		setArgs:  []any{string(domain.StatusFailed), string(paymentState(o)), e.Reason, o.UpdatedAt.UTC()},
		guard:    `status = $1`,
		guardArg: []any{string(domain.StatusPending)},
		event:    &envelope,
	})
}

// Released implements domain.OrderStore.
func (s *Store) Released(ctx context.Context, id string, at time.Time) (bool, error) {
	return s.apply(ctx, transition{
		what: "record the release of", id: id,
		set:      `stock_released = TRUE, updated_at = $1`,
		setArgs:  []any{at.UTC()},
		guard:    `status = $1 AND NOT stock_released`,
		guardArg: []any{string(domain.StatusFailed)},
	})
}

// RequestCancel implements domain.OrderStore.
func (s *Store) RequestCancel(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	return s.apply(ctx, transition{
		what: "begin the cancel of", id: id,
		set:      `cancel_requested = TRUE, cancel_reason = $1, updated_at = $2`,
		setArgs:  []any{reason, at.UTC()},
		guard:    `status = $1 AND NOT cancel_requested`,
		guardArg: []any{string(domain.StatusPlaced)},
	})
}

// Cancel implements domain.OrderStore. The guard on the payment state makes
// a cancel that voided an authorization lose to a capture recorded
// meanwhile; its driver then refunds.
func (s *Store) Cancel(ctx context.Context, e domain.OrderCancelled, from domain.PaymentState) (bool, error) {
	envelope, err := cancelledEnvelope(e)
	if err != nil {
		return false, err
	}
	o := e.Order
	return s.apply(ctx, transition{
		what: "cancel", id: o.ID,
		set:      `status = $1, payment_state = $2, cancel_reason = $3, updated_at = $4`,
		setArgs:  []any{string(domain.StatusCancelled), string(paymentState(o)), e.Reason, o.UpdatedAt.UTC()},
		guard:    `status = $1 AND payment_state = $2`,
		guardArg: []any{string(domain.StatusPlaced), string(from)},
		event:    &envelope,
	})
}

// unfinished is the condition of an order whose saga has a step left (the
// orders_unfinished index's).
const unfinished = `(status = 'PENDING'
	OR (status = 'PLACED' AND (payment_state = 'AUTHORIZED' OR cancel_requested))
	OR (status = 'FAILED' AND NOT stock_released))`

// Unfinished implements domain.OrderStore.
func (s *Store) Unfinished(ctx context.Context, before time.Time, limit int) ([]domain.Order, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE `+unfinished+` AND updated_at < $1 AND (lease_until IS NULL OR lease_until < $1)
		ORDER BY updated_at, id LIMIT $2`, before.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("list unfinished orders: %w", err)
	}
	defer rows.Close()
	var orders []domain.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list unfinished orders: %w", err)
		}
		orders = append(orders, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list unfinished orders: %w", err)
	}
	return orders, nil
}

// Claim implements domain.OrderStore.
func (s *Store) Claim(ctx context.Context, id string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE orders SET lease_until = $1
		WHERE id = $2 AND (lease_until IS NULL OR lease_until < $3)`, until.UTC(), id, now.UTC())
	if err != nil {
		return false, fmt.Errorf("claim order %s: %w", id, err)
	}
	return oneRow(res)
}
