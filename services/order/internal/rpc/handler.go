// Package rpc serves slipway.order.v1.OrderService. Its handlers only
// translate: proto in, one domain call, proto out, the error mapped once by
// server.Status. The caller is the user of the verified token, taken from
// the context; no request names a user. Request shape is checked before the
// handlers by the platform's validation interceptor (protovalidate); the
// domain checks its own rules.
package rpc

import (
	"context"

	"github.com/google/wire"
	"google.golang.org/protobuf/types/known/timestamppb"

	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

// ProviderSet provides the Handler.
var ProviderSet = wire.NewSet(NewHandler)

// Policy says who may call each method: every call acts for the token's
// user, so every method needs a valid token.
func Policy() auth.Policy {
	return auth.Policy{
		orderv1.OrderService_CreateOrder_FullMethodName:  auth.Authenticated,
		orderv1.OrderService_GetOrder_FullMethodName:     auth.Authenticated,
		orderv1.OrderService_ListMyOrders_FullMethodName: auth.Authenticated,
		orderv1.OrderService_CancelOrder_FullMethodName:  auth.Authenticated,
	}
}

// Handler implements orderv1.OrderServiceServer over the domain.
type Handler struct {
	orderv1.UnimplementedOrderServiceServer
	orders *domain.OrderService
}

var _ orderv1.OrderServiceServer = (*Handler)(nil)

// NewHandler returns the handler of the order service.
func NewHandler(orders *domain.OrderService) *Handler {
	return &Handler{orders: orders}
}

// CreateOrder implements orderv1.OrderServiceServer.
func (h *Handler) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	items := make([]domain.Item, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = domain.Item{ProductID: it.GetProductId(), Quantity: int64(it.GetQuantity())}
	}
	o, err := h.orders.CreateOrder(ctx, actor(ctx), req.GetIdempotencyKey(), items, req.GetPaymentMethod())
	if err != nil {
		return nil, server.Status(err)
	}
	return &orderv1.CreateOrderResponse{Order: orderProto(o)}, nil
}

// GetOrder implements orderv1.OrderServiceServer.
func (h *Handler) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
	o, err := h.orders.GetOrder(ctx, actor(ctx), req.GetId())
	if err != nil {
		return nil, server.Status(err)
	}
	return &orderv1.GetOrderResponse{Order: orderProto(o)}, nil
}

// ListMyOrders implements orderv1.OrderServiceServer.
func (h *Handler) ListMyOrders(ctx context.Context, req *orderv1.ListMyOrdersRequest) (*orderv1.ListMyOrdersResponse, error) {
	page, err := h.orders.ListMyOrders(ctx, actor(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, server.Status(err)
	}
	resp := &orderv1.ListMyOrdersResponse{
		Orders:        make([]*orderv1.Order, len(page.Orders)),
		NextPageToken: page.NextPageToken,
	}
	for i, o := range page.Orders {
		resp.Orders[i] = orderProto(o)
	}
	return resp, nil
}

// CancelOrder implements orderv1.OrderServiceServer.
func (h *Handler) CancelOrder(ctx context.Context, req *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error) {
	o, err := h.orders.CancelOrder(ctx, actor(ctx), req.GetId(), req.GetReason())
	if err != nil {
		return nil, server.Status(err)
	}
	return &orderv1.CancelOrderResponse{Order: orderProto(o)}, nil
}

// actor is the caller the auth hook verified; the zero Actor when none,
// which the domain refuses.
func actor(ctx context.Context) domain.Actor {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return domain.Actor{}
	}
	return domain.Actor{Subject: c.Subject, Role: domain.Role(c.Role)}
}

var statusProto = map[domain.Status]orderv1.OrderStatus{
	domain.StatusPending:   orderv1.OrderStatus_ORDER_STATUS_PENDING,
	domain.StatusPlaced:    orderv1.OrderStatus_ORDER_STATUS_PLACED,
	domain.StatusFailed:    orderv1.OrderStatus_ORDER_STATUS_FAILED,
	domain.StatusCancelled: orderv1.OrderStatus_ORDER_STATUS_CANCELLED,
}

var paymentStateProto = map[domain.PaymentState]orderv1.PaymentState{
	domain.PaymentNone:       orderv1.PaymentState_PAYMENT_STATE_NONE,
	domain.PaymentAuthorized: orderv1.PaymentState_PAYMENT_STATE_AUTHORIZED,
	domain.PaymentCaptured:   orderv1.PaymentState_PAYMENT_STATE_CAPTURED,
	domain.PaymentVoided:     orderv1.PaymentState_PAYMENT_STATE_VOIDED,
	domain.PaymentRefunded:   orderv1.PaymentState_PAYMENT_STATE_REFUNDED,
	domain.PaymentDeclined:   orderv1.PaymentState_PAYMENT_STATE_DECLINED,
}

func orderProto(o domain.Order) *orderv1.Order {
	items := make([]*orderv1.OrderItem, len(o.Items))
	for i, it := range o.Items {
		items[i] = &orderv1.OrderItem{
			ProductId: it.ProductID,
			Name:      it.Name,
			Quantity:  int32(it.Quantity),
			UnitPrice: moneyProto(it.UnitPrice),
			LineTotal: moneyProto(it.LineTotal),
		}
	}
	return &orderv1.Order{
		Id:             o.ID,
		UserId:         o.UserID,
		Status:         statusProto[o.Status],
		Items:          items,
		Total:          moneyProto(o.Total),
		IdempotencyKey: o.IdempotencyKey,
		CreatedAt:      timestamppb.New(o.CreatedAt),
		UpdatedAt:      timestamppb.New(o.UpdatedAt),
		PaymentState:   paymentStateProto[o.PaymentState],
		FailureReason:  o.FailureReason,
	}
}

func moneyProto(m domain.Money) *moneyv1.Money {
	return &moneyv1.Money{Currency: m.Currency, AmountMinor: m.AmountMinor}
}
