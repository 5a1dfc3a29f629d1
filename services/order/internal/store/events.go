package store

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	apievents "github.com/slipway-dev/slipway/api/events"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

// The outbox holds events in their wire form: the protobuf messages of
// slipway.order.v1, on the subjects api/events names.

func placedEnvelope(e domain.OrderPlaced) (events.Envelope, error) {
	if e.EventID == "" {
		return events.Envelope{}, fmt.Errorf("OrderPlaced of order %s has no event id", e.Order.ID)
	}
	return events.Envelope{
		ID:      e.EventID,
		Subject: apievents.SubjectOrderPlaced,
		Payload: &orderv1.OrderPlaced{
			EventId:    e.EventID,
			OrderId:    e.Order.ID,
			UserId:     e.Order.UserID,
			Items:      itemsProto(e.Order.Items),
			Total:      moneyProto(e.Order.Total),
			OccurredAt: timestamppb.New(e.OccurredAt),
		},
	}, nil
}

func cancelledEnvelope(e domain.OrderCancelled) (events.Envelope, error) {
	if e.EventID == "" {
		return events.Envelope{}, fmt.Errorf("OrderCancelled of order %s has no event id", e.Order.ID)
	}
	return events.Envelope{
		ID:      e.EventID,
		Subject: apievents.SubjectOrderCancelled,
		Payload: &orderv1.OrderCancelled{
			EventId:    e.EventID,
			OrderId:    e.Order.ID,
			UserId:     e.Order.UserID,
			Items:      itemsProto(e.Order.Items),
			Reason:     e.Reason,
			OccurredAt: timestamppb.New(e.OccurredAt),
		},
	}, nil
}

func failedEnvelope(e domain.OrderFailed) (events.Envelope, error) {
	if e.EventID == "" {
		return events.Envelope{}, fmt.Errorf("OrderFailed of order %s has no event id", e.Order.ID)
	}
	return events.Envelope{
		ID:      e.EventID,
		Subject: apievents.SubjectOrderFailed,
		Payload: &orderv1.OrderFailed{
			EventId:    e.EventID,
			OrderId:    e.Order.ID,
			UserId:     e.Order.UserID,
			Items:      itemsProto(e.Order.Items),
			Total:      totalProto(e.Order.Total),
			Reason:     e.Reason,
			OccurredAt: timestamppb.New(e.OccurredAt),
		},
	}, nil
}

func itemsProto(items []domain.OrderItem) []*orderv1.OrderItem {
	out := make([]*orderv1.OrderItem, len(items))
	for i, it := range items {
		out[i] = &orderv1.OrderItem{
			ProductId: it.ProductID,
			Name:      it.Name,
			Quantity:  int32(it.Quantity),
			UnitPrice: moneyProto(it.UnitPrice),
			LineTotal: moneyProto(it.LineTotal),
		}
	}
	return out
}

// totalProto is a failed order's total, or nil when it failed before it
// was priced: an empty total is no amount, and consumers refuse a money
// value without a currency.
func totalProto(m domain.Money) *moneyv1.Money {
	if m == (domain.Money{}) {
		return nil
	}
	return moneyProto(m)
}

func moneyProto(m domain.Money) *moneyv1.Money {
	return &moneyv1.Money{Currency: m.Currency, AmountMinor: m.AmountMinor}
}
