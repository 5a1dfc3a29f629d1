// Package orderevents turns the order service's events, as the platform's
// events consumer delivers them, into calls of the notification domain. It
// only translates, like the rpc package does for requests: subject and
// protobuf payload in, one domain call inside the consumer's transaction,
// an error out when the event must be delivered again.
package orderevents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/wire"
	"google.golang.org/protobuf/types/known/timestamppb"

	apievents "github.com/slipway-dev/slipway/api/events"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/notification/internal/domain"
)

// ProviderSet provides the Handler; the app binds TxBinder to the store.
var ProviderSet = wire.NewSet(NewHandler)

// Durable is the name of the notification service's consumer of the ORDERS
// stream, shared by every instance, and its key in the inbox.
const Durable = "notification"

// Subjects are the order events the notification service consumes.
var Subjects = []string{apievents.SubjectOrderPlaced, apievents.SubjectOrderCancelled, apievents.SubjectOrderFailed}

// TxBinder gives the domain its storage work on the consumer's transaction.
type TxBinder interface {
	Tx(tx *sql.Tx) domain.Tx
}

// Handler handles the order events of the ORDERS stream.
type Handler struct {
	notifications *domain.NotificationService
	store         TxBinder
	logger        *slog.Logger
}

// NewHandler returns the handler over the domain and the store the
// consumer's transaction is bound to.
func NewHandler(notifications *domain.NotificationService, store TxBinder, logger *slog.Logger) *Handler {
	return &Handler{notifications: notifications, store: store, logger: logger}
}

// Handle is an events.Handler. It stores the notification and queues its
// delivery in tx; nothing is sent here, so the channel failing cannot roll
// the notification back. An error rolls back tx (the notification, its
// delivery row and the inbox entry) and the consumer delivers the event
// again, dead-lettering it after its last delivery: so an event that cannot
// be decoded or is invalid ends in the dead-letter stream. An event that
// already has its notification is acknowledged.
func (h *Handler) Handle(ctx context.Context, tx *sql.Tx, m events.Message) error {
	var (
		n   domain.Notification
		err error
	)
	switch m.Subject {
	case apievents.SubjectOrderPlaced:
		var e orderv1.OrderPlaced
		if err := m.Decode(&e); err != nil {
			return err
		}
		n, err = h.notifications.HandleOrderPlaced(ctx, h.store.Tx(tx), orderPlaced(&e))
	case apievents.SubjectOrderCancelled:
		var e orderv1.OrderCancelled
		if err := m.Decode(&e); err != nil {
			return err
		}
		n, err = h.notifications.HandleOrderCancelled(ctx, h.store.Tx(tx), orderCancelled(&e))
	case apievents.SubjectOrderFailed:
		var e orderv1.OrderFailed
		if err := m.Decode(&e); err != nil {
			return err
		}
		n, err = h.notifications.HandleOrderFailed(ctx, h.store.Tx(tx), orderFailed(&e))
	default:
		return fmt.Errorf("order events: message %s on subject %q: not an order event this service handles", m.ID, m.Subject)
	}
	if errors.Is(err, domain.ErrAlreadyRecorded) {
		h.logger.InfoContext(ctx, "order event already has its notification",
			"event_id", n.EventID, "message_id", m.ID, "subject", m.Subject, "order_id", n.OrderID)
		return nil
	}
	if err != nil {
		return err
	}
	h.logger.InfoContext(ctx, "notification recorded",
		"notification_id", n.ID, "event_id", n.EventID, "kind", string(n.Kind), "user_id", n.UserID, "order_id", n.OrderID,
		"title", n.Title, "delivery", string(n.Delivery))
	return nil
}

func orderPlaced(e *orderv1.OrderPlaced) domain.OrderPlaced {
	out := domain.OrderPlaced{
		EventID:    e.GetEventId(),
		OrderID:    e.GetOrderId(),
		UserID:     e.GetUserId(),
		Items:      orderItems(e.GetItems()),
		OccurredAt: occurredAt(e.GetOccurredAt()),
	}
	if t := e.GetTotal(); t != nil {
		out.Total = &domain.Money{AmountMinor: t.GetAmountMinor(), Currency: t.GetCurrency()}
	}
	return out
}

func orderCancelled(e *orderv1.OrderCancelled) domain.OrderCancelled {
	return domain.OrderCancelled{
		EventID:    e.GetEventId(),
		OrderID:    e.GetOrderId(),
		UserID:     e.GetUserId(),
		Items:      orderItems(e.GetItems()),
		Reason:     e.GetReason(),
		OccurredAt: occurredAt(e.GetOccurredAt()),
	}
}

func orderFailed(e *orderv1.OrderFailed) domain.OrderFailed {
	out := domain.OrderFailed{
		EventID:    e.GetEventId(),
		OrderID:    e.GetOrderId(),
		UserID:     e.GetUserId(),
		Items:      orderItems(e.GetItems()),
		Reason:     e.GetReason(),
		OccurredAt: occurredAt(e.GetOccurredAt()),
	}
	if t := e.GetTotal(); t != nil {
		out.Total = &domain.Money{AmountMinor: t.GetAmountMinor(), Currency: t.GetCurrency()}
	}
	return out
}

// occurredAt is the event's time; the zero time when it carries none.
func occurredAt(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func orderItems(items []*orderv1.OrderItem) []domain.OrderItem {
	if len(items) == 0 {
		return nil
	}
	out := make([]domain.OrderItem, len(items))
	for i, it := range items {
		out[i] = domain.OrderItem{ProductID: it.GetProductId(), Name: it.GetName(), Quantity: int64(it.GetQuantity())}
	}
	return out
}
