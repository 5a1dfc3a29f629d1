// Package payment is the payment service as the order service uses it: it
// implements domain.Payments over the payment service's gRPC API, derives
// every idempotency key from the order and the step, and turns the payment
// service's status codes back into the domain's error kinds.
package payment

import (
	"context"
	"fmt"

	"github.com/google/wire"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

// ReasonDeclined is the ErrorInfo reason the payment service gives a
// declined payment method (with FAILED_PRECONDITION).
const ReasonDeclined = "PAYMENT_DECLINED"

// Client implements domain.Payments over a payment service client.
type Client struct {
	payments paymentv1.PaymentServiceClient
}

var _ domain.Payments = (*Client)(nil)

// New returns a Client that calls payments.
func New(payments paymentv1.PaymentServiceClient) *Client {
	return &Client{payments: payments}
}

// Key is the idempotency key of one step of one order's payment: the same
// order and step always send the same key, so a retry, a second instance
// or a recovered saga can never charge twice.
func Key(orderID, step string) string { return "order/" + orderID + "/" + step }

// Authorize implements domain.Payments.
func (c *Client) Authorize(ctx context.Context, p domain.PaymentRequest) (domain.PaymentResult, error) {
	resp, err := c.payments.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{
		OrderId:        p.OrderID,
		UserId:         p.UserID,
		Amount:         money(p.Amount),
		PaymentMethod:  p.Method,
		IdempotencyKey: Key(p.OrderID, "authorize"),
	})
	if err != nil {
		return domain.PaymentResult{}, kind("authorize", err)
	}
	return domain.PaymentResult{PaymentID: resp.GetPayment().GetId()}, nil
}

// Capture implements domain.Payments.
func (c *Client) Capture(ctx context.Context, orderID string, amount domain.Money) error {
	_, err := c.payments.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{
		OrderId: orderID, Amount: money(amount), IdempotencyKey: Key(orderID, "capture"),
	})
	return kind("capture", err)
}

// Void implements domain.Payments. The payment service answers OK for an
// order it has no payment of, as the port requires.
func (c *Client) Void(ctx context.Context, orderID string) error {
	_, err := c.payments.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{
		OrderId: orderID, IdempotencyKey: Key(orderID, "void"),
	})
	return kind("void", err)
}

// Refund implements domain.Payments.
func (c *Client) Refund(ctx context.Context, orderID string, amount domain.Money) error {
	_, err := c.payments.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{
		OrderId: orderID, Amount: money(amount), IdempotencyKey: Key(orderID, "refund"),
	})
	return kind("refund", err)
}

func money(m domain.Money) *moneyv1.Money {
	return &moneyv1.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}

// codeKinds maps the payment service's answers to the domain's error
// kinds. UNAVAILABLE and DEADLINE_EXCEEDED are the ones the saga retries
// (with the same key); a code missing here is the order service's own fault
// as its caller sees it (Internal, or its credentials refused), so an error
// of no kind, which the saga treats as permanent.
var codeKinds = map[codes.Code]error{
	codes.NotFound:           errkind.NotFound,
	codes.FailedPrecondition: errkind.FailedPrecondition,
	codes.InvalidArgument:    errkind.Invalid,
	codes.AlreadyExists:      errkind.AlreadyExists,
	codes.Aborted:            errkind.Conflict,
	codes.ResourceExhausted:  errkind.Unavailable,
	codes.Unavailable:        errkind.Unavailable,
	codes.DeadlineExceeded:   errkind.Unavailable,
}

// kind turns a payment call's error into a domain error: a decline wraps
// domain.ErrPaymentDeclined with the provider's code and message, the rest
// their kind. The gRPC status itself is not wrapped, so the order service's
// edge never passes the payment service's answer on as its own.
func kind(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("payment %s: %w", op, err) // a context error, kept as is
	}
	if st.Code() == codes.Canceled {
		return fmt.Errorf("payment %s: %s: %w", op, st.Message(), context.Canceled)
	}
	if st.Code() == codes.FailedPrecondition {
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == ReasonDeclined {
				reason := st.Message()
				if code := info.GetMetadata()["decline_code"]; code != "" {
					reason = code + ": " + reason
				}
				return fmt.Errorf("%w: %s", domain.ErrPaymentDeclined, reason)
			}
		}
	}
	k, known := codeKinds[st.Code()]
	if !known {
		return fmt.Errorf("payment %s: %s: %s", op, st.Code(), st.Message())
	}
	return fmt.Errorf("payment %s: %s: %w", op, st.Message(), k)
}

// ProviderSet provides the Client; the app binds it to domain.Payments.
var ProviderSet = wire.NewSet(New)
