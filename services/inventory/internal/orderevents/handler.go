// Package orderevents applies the order service's events to the inventory,
// as the platform's events consumer delivers them: OrderPlaced commits the
// order's reservation (it stops expiring), OrderCancelled releases it (its
// stock comes back), and OrderFailed releases what an order that failed
// before it was placed still holds. Like the rpc package for requests, it only translates:
// subject and protobuf payload in, one domain call inside the consumer's
// transaction, an error out when the event must be delivered again.
//
// The effect runs on the consumer's own transaction (the one that records
// the event id in the inbox), through the store's Tx binding, so the effect
// and the inbox row commit together: a redelivered event finds its row and
// is not applied twice, and a failed effect leaves no row behind.
package orderevents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	apievents "github.com/slipway-dev/slipway/api/events"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
)

// ProviderSet provides the Handler; the app binds TxBinder to the store.
var ProviderSet = wire.NewSet(NewHandler)

// Durable is the name of the inventory's consumer of the ORDERS stream,
// shared by every instance, and its key in the inbox.
const Durable = "inventory"

// Subjects are the order events the inventory consumes.
var Subjects = []string{apievents.SubjectOrderPlaced, apievents.SubjectOrderCancelled, apievents.SubjectOrderFailed}

// TxBinder gives the domain its storage work on the consumer's transaction.
type TxBinder interface {
	Tx(tx *sql.Tx) domain.Tx
}

// Handler handles the order events of the ORDERS stream.
type Handler struct {
	inventory          *domain.InventoryService
	store              TxBinder
	logger             *slog.Logger
	commitAfterRelease prometheus.Counter
}

// NewHandler returns the handler over the domain and the store the
// consumer's transaction is bound to, with its metric registered on reg.
func NewHandler(inventory *domain.InventoryService, store TxBinder, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "slipway_inventory_commit_after_release_total",
		Help: "OrderPlaced events whose reservation was already released (expired before the event arrived, or cancelled); their stock is not taken again.",
	})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("register inventory event metrics: %w", err)
	}
	return &Handler{inventory: inventory, store: store, logger: logger, commitAfterRelease: c}, nil
}

// Handle is an events.Handler. An error rolls back tx (the effect and the
// inbox row) and the consumer delivers the event again, dead-lettering it
// after its last delivery: an event that cannot be decoded, names no order,
// or names an order inventory never reserved ends in the dead-letter stream.
//
// An OrderPlaced whose reservation is already released is acknowledged
// with a warning and counted in slipway_inventory_commit_after_release_total:
// its stock went back when the reservation expired (the event arrived later
// than RESERVATION_TTL) or the order was cancelled, and taking it again
// could oversell. That is the documented price of a TTL; the counter is
// what to alert on.
//
// An OrderFailed releases the order's reservation if it still holds stock.
// The order service calls Release itself too, so the reservation is often
// released already, or was never made (the order failed reserving): both
// are acknowledged without a change but the RELEASED tombstone. A committed
// reservation is left committed, with a warning: only a placed order's is,
// and a placed order does not fail.
func (h *Handler) Handle(ctx context.Context, tx *sql.Tx, m events.Message) error {
	switch m.Subject {
	case apievents.SubjectOrderPlaced:
		var e orderv1.OrderPlaced
		if err := m.Decode(&e); err != nil {
			return err
		}
		r, err := h.inventory.CommitInTx(ctx, h.store.Tx(tx), e.GetOrderId())
		if errors.Is(err, domain.ErrReleased) {
			h.commitAfterRelease.Inc()
			h.logger.WarnContext(ctx, "order placed after its reservation was released; its stock is not taken again",
				"order_id", e.GetOrderId(), "event_id", m.ID, "error", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("order placed %s: %w", m.ID, err)
		}
		h.logger.DebugContext(ctx, "reservation committed", "order_id", r.OrderID, "event_id", m.ID)
		return nil
	case apievents.SubjectOrderCancelled:
		var e orderv1.OrderCancelled
		if err := m.Decode(&e); err != nil {
			return err
		}
		r, err := h.inventory.ReleaseInTx(ctx, h.store.Tx(tx), e.GetOrderId())
		if err != nil {
			return fmt.Errorf("order cancelled %s: %w", m.ID, err)
		}
		h.logger.DebugContext(ctx, "reservation released", "order_id", r.OrderID, "event_id", m.ID)
		return nil
	case apievents.SubjectOrderFailed:
		var e orderv1.OrderFailed
		if err := m.Decode(&e); err != nil {
			return err
		}
		r, err := h.inventory.ReleaseFailedInTx(ctx, h.store.Tx(tx), e.GetOrderId())
		if err != nil {
			return fmt.Errorf("order failed %s: %w", m.ID, err)
		}
		if r.Status == domain.StatusCommitted {
			h.logger.WarnContext(ctx, "order failed after its reservation was committed; its stock stays taken",
				"order_id", r.OrderID, "event_id", m.ID)
			return nil
		}
		h.logger.DebugContext(ctx, "reservation of failed order released", "order_id", r.OrderID, "event_id", m.ID)
		return nil
	}
	return fmt.Errorf("order events: message %s on subject %q: not an order event this service handles", m.ID, m.Subject)
}
