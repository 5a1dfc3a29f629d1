// Package rpc serves slipway.payment.v1.PaymentService. Its handlers only
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

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
)

// ProviderSet provides the Handler.
var ProviderSet = wire.NewSet(NewHandler)

// Policy says who may call each method: every call acts for the token's
// user, so every method needs a valid token; the domain lets each user see
// only their own payments.
func Policy() auth.Policy {
	return auth.Policy{
		paymentv1.PaymentService_CreatePayment_FullMethodName: auth.Authenticated,
		paymentv1.PaymentService_GetPayment_FullMethodName:    auth.Authenticated,
		paymentv1.PaymentService_ListPayments_FullMethodName:  auth.Authenticated,
	}
}

// Handler implements paymentv1.PaymentServiceServer over the domain.
type Handler struct {
	paymentv1.UnimplementedPaymentServiceServer
	payments *domain.PaymentService
}

var _ paymentv1.PaymentServiceServer = (*Handler)(nil)

// NewHandler returns the handler of the payment service.
func NewHandler(payments *domain.PaymentService) *Handler {
	return &Handler{payments: payments}
}

// CreatePayment implements paymentv1.PaymentServiceServer.
func (h *Handler) CreatePayment(ctx context.Context, req *paymentv1.CreatePaymentRequest) (*paymentv1.CreatePaymentResponse, error) {
	payment, err := h.payments.Create(ctx, actor(ctx), req.GetName())
	if err != nil {
		return nil, server.Status(err)
	}
	return &paymentv1.CreatePaymentResponse{Payment: toProto(payment)}, nil
}

// GetPayment implements paymentv1.PaymentServiceServer.
func (h *Handler) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	payment, err := h.payments.Get(ctx, actor(ctx), req.GetId())
	if err != nil {
		return nil, server.Status(err)
	}
	return &paymentv1.GetPaymentResponse{Payment: toProto(payment)}, nil
}

// ListPayments implements paymentv1.PaymentServiceServer.
func (h *Handler) ListPayments(ctx context.Context, req *paymentv1.ListPaymentsRequest) (*paymentv1.ListPaymentsResponse, error) {
	page, err := h.payments.List(ctx, actor(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, server.Status(err)
	}
	resp := &paymentv1.ListPaymentsResponse{
		Payments:      make([]*paymentv1.Payment, len(page.Payments)),
		NextPageToken: page.NextPageToken,
	}
	for i, payment := range page.Payments {
		resp.Payments[i] = toProto(payment)
	}
	return resp, nil
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

func toProto(payment domain.Payment) *paymentv1.Payment {
	return &paymentv1.Payment{
		Id:        payment.ID,
		OwnerId:   payment.OwnerID,
		Name:      payment.Name,
		CreatedAt: timestamppb.New(payment.CreatedAt),
	}
}
