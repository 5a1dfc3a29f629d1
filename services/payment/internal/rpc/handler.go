// Package rpc serves slipway.payment.v1.PaymentService. Its handlers only
// translate: proto in, one domain call, proto out, the error mapped once by
// status. Request shape is checked before the handlers by the platform's
// validation interceptor (protovalidate); the domain checks its own rules.
package rpc

import (
	"context"
	"errors"

	"github.com/google/wire"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
)

// ProviderSet provides the Handler.
var ProviderSet = wire.NewSet(NewHandler)

// The google.rpc.ErrorInfo a declined authorization carries: the order
// service reads Reason and the decline code to fail the order with why.
const (
	// ErrorDomain is the ErrorInfo domain of the payment service's errors.
	ErrorDomain = "payment.slipway.dev"
	// ReasonPaymentDeclined is the ErrorInfo reason of a decline
	// (FAILED_PRECONDITION).
	ReasonPaymentDeclined = "PAYMENT_DECLINED"
	// MetadataDeclineCode is the ErrorInfo metadata key of the provider's
	// decline code ("card_declined", "insufficient_funds").
	MetadataDeclineCode = "decline_code"
)

// Policy says who may call each method: the order service alone (and
// admins) moves money, for the user who orders; a user reads their own
// payments, which the domain sees to.
func Policy() auth.Policy {
	return auth.Policy{
		paymentv1.PaymentService_AuthorizePayment_FullMethodName: auth.Internal.For("order"),
		paymentv1.PaymentService_CapturePayment_FullMethodName:   auth.Internal.For("order"),
		paymentv1.PaymentService_VoidPayment_FullMethodName:      auth.Internal.For("order"),
		paymentv1.PaymentService_RefundPayment_FullMethodName:    auth.Internal.For("order"),
		paymentv1.PaymentService_GetPayment_FullMethodName:       auth.Authenticated,
		paymentv1.PaymentService_ListMyPayments_FullMethodName:   auth.Authenticated,
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

// AuthorizePayment implements paymentv1.PaymentServiceServer.
func (h *Handler) AuthorizePayment(ctx context.Context, req *paymentv1.AuthorizePaymentRequest) (*paymentv1.AuthorizePaymentResponse, error) {
	p, err := h.payments.Authorize(ctx, domain.AuthorizeRequest{
		OrderID: req.GetOrderId(), UserID: req.GetUserId(), Amount: money(req.GetAmount()),
		PaymentMethod: req.GetPaymentMethod(), IdempotencyKey: req.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, status(err)
	}
	return &paymentv1.AuthorizePaymentResponse{Payment: toProto(p)}, nil
}

// CapturePayment implements paymentv1.PaymentServiceServer.
func (h *Handler) CapturePayment(ctx context.Context, req *paymentv1.CapturePaymentRequest) (*paymentv1.CapturePaymentResponse, error) {
	p, err := h.payments.Capture(ctx, domain.CaptureRequest{
		OrderID: req.GetOrderId(), Amount: money(req.GetAmount()), IdempotencyKey: req.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, status(err)
	}
	return &paymentv1.CapturePaymentResponse{Payment: toProto(p)}, nil
}

// VoidPayment implements paymentv1.PaymentServiceServer.
func (h *Handler) VoidPayment(ctx context.Context, req *paymentv1.VoidPaymentRequest) (*paymentv1.VoidPaymentResponse, error) {
	p, ok, err := h.payments.Void(ctx, domain.VoidRequest{OrderID: req.GetOrderId(), IdempotencyKey: req.GetIdempotencyKey()})
	if err != nil {
		return nil, status(err)
	}
	if !ok {
		return &paymentv1.VoidPaymentResponse{}, nil
	}
	return &paymentv1.VoidPaymentResponse{Payment: toProto(p)}, nil
}

// RefundPayment implements paymentv1.PaymentServiceServer.
func (h *Handler) RefundPayment(ctx context.Context, req *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, error) {
	p, err := h.payments.Refund(ctx, domain.RefundRequest{
		OrderID: req.GetOrderId(), Amount: money(req.GetAmount()), IdempotencyKey: req.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, status(err)
	}
	return &paymentv1.RefundPaymentResponse{Payment: toProto(p)}, nil
}

// GetPayment implements paymentv1.PaymentServiceServer.
func (h *Handler) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	p, err := h.payments.Get(ctx, actor(ctx), req.GetId())
	if err != nil {
		return nil, status(err)
	}
	return &paymentv1.GetPaymentResponse{Payment: toProto(p)}, nil
}

// ListMyPayments implements paymentv1.PaymentServiceServer.
func (h *Handler) ListMyPayments(ctx context.Context, req *paymentv1.ListMyPaymentsRequest) (*paymentv1.ListMyPaymentsResponse, error) {
	page, err := h.payments.ListMine(ctx, actor(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, status(err)
	}
	resp := &paymentv1.ListMyPaymentsResponse{
		Payments:      make([]*paymentv1.Payment, len(page.Payments)),
		NextPageToken: page.NextPageToken,
	}
	for i, p := range page.Payments {
		resp.Payments[i] = toProto(p)
	}
	return resp, nil
}

// status is server.Status, except that a decline is FAILED_PRECONDITION
// with the provider's message and an ErrorInfo naming the reason and the
// decline code, which the order service reads.
func status(err error) error {
	var decline *domain.DeclineError
	if !errors.As(err, &decline) {
		return server.Status(err)
	}
	st := grpcstatus.New(codes.FailedPrecondition, declineMessage(decline))
	withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{
		Reason:   ReasonPaymentDeclined,
		Domain:   ErrorDomain,
		Metadata: map[string]string{MetadataDeclineCode: decline.Code},
	})
	if derr != nil {
		return st.Err() // the detail is a nicety; never lose the error over it
	}
	return withInfo.Err()
}

func declineMessage(d *domain.DeclineError) string {
	if d.Message != "" {
		return d.Message
	}
	return "payment declined: " + d.Code
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

func money(m *moneyv1.Money) domain.Money {
	return domain.Money{Currency: m.GetCurrency(), AmountMinor: m.GetAmountMinor()}
}

// states maps the domain's states to the API's.
var states = map[domain.State]paymentv1.PaymentState{
	domain.StatePending:    paymentv1.PaymentState_PAYMENT_STATE_PENDING,
	domain.StateAuthorized: paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED,
	domain.StateCaptured:   paymentv1.PaymentState_PAYMENT_STATE_CAPTURED,
	domain.StateVoided:     paymentv1.PaymentState_PAYMENT_STATE_VOIDED,
	domain.StateRefunded:   paymentv1.PaymentState_PAYMENT_STATE_REFUNDED,
	domain.StateDeclined:   paymentv1.PaymentState_PAYMENT_STATE_DECLINED,
}

func toProto(p domain.Payment) *paymentv1.Payment {
	return &paymentv1.Payment{
		Id:             p.ID,
		OrderId:        p.OrderID,
		UserId:         p.UserID,
		Amount:         &moneyv1.Money{Currency: p.Amount.Currency, AmountMinor: p.Amount.AmountMinor},
		State:          states[p.State],
		Provider:       p.Provider,
		ProviderRef:    p.ProviderRef,
		PaymentMethod:  p.PaymentMethod,
		DeclineCode:    p.DeclineCode,
		DeclineMessage: p.DeclineMessage,
		CreatedAt:      timestamppb.New(p.CreatedAt),
		UpdatedAt:      timestamppb.New(p.UpdatedAt),
	}
}
