package payment_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/payment"
)

// payments is a gRPC payment service that fails every call with err when
// set, and records the idempotency key of each request it gets.
type payments struct {
	paymentv1.UnimplementedPaymentServiceServer
	err error

	mu   sync.Mutex
	keys []string
	auth []*paymentv1.AuthorizePaymentRequest
}

func (f *payments) record(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, key)
	return f.err
}

func (f *payments) AuthorizePayment(_ context.Context, req *paymentv1.AuthorizePaymentRequest) (*paymentv1.AuthorizePaymentResponse, error) {
	f.mu.Lock()
	f.auth = append(f.auth, req)
	f.mu.Unlock()
	if err := f.record(req.GetIdempotencyKey()); err != nil {
		return nil, err
	}
	return &paymentv1.AuthorizePaymentResponse{Payment: &paymentv1.Payment{Id: "pay-" + req.GetOrderId()}}, nil
}

func (f *payments) CapturePayment(_ context.Context, req *paymentv1.CapturePaymentRequest) (*paymentv1.CapturePaymentResponse, error) {
	return &paymentv1.CapturePaymentResponse{}, f.record(req.GetIdempotencyKey())
}

func (f *payments) VoidPayment(_ context.Context, req *paymentv1.VoidPaymentRequest) (*paymentv1.VoidPaymentResponse, error) {
	return &paymentv1.VoidPaymentResponse{}, f.record(req.GetIdempotencyKey())
}

func (f *payments) RefundPayment(_ context.Context, req *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, error) {
	return &paymentv1.RefundPaymentResponse{}, f.record(req.GetIdempotencyKey())
}

func dial(t *testing.T, srv paymentv1.PaymentServiceServer) *payment.Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	paymentv1.RegisterPaymentServiceServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///payment",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return payment.New(paymentv1.NewPaymentServiceClient(conn))
}

var total = domain.Money{AmountMinor: 2599, Currency: "USD"}

func TestEveryStepSendsAKeyDerivedFromTheOrderAndTheStep(t *testing.T) {
	srv := &payments{}
	c := dial(t, srv)
	ctx := context.Background()

	res, err := c.Authorize(ctx, domain.PaymentRequest{OrderID: "o1", UserID: "u1", Amount: total, Method: "pm_card_visa"})
	require.NoError(t, err)
	assert.Equal(t, "pay-o1", res.PaymentID)
	_, err = c.Authorize(ctx, domain.PaymentRequest{OrderID: "o1", UserID: "u1", Amount: total, Method: "pm_card_visa"})
	require.NoError(t, err)
	require.NoError(t, c.Capture(ctx, "o1", total))
	require.NoError(t, c.Void(ctx, "o1"))
	require.NoError(t, c.Refund(ctx, "o1", total))

	assert.Equal(t, []string{"order/o1/authorize", "order/o1/authorize", "order/o1/capture", "order/o1/void", "order/o1/refund"}, srv.keys,
		"a retry of a step sends the same key")
	require.Len(t, srv.auth, 2)
	a := srv.auth[0]
	assert.Equal(t, "u1", a.GetUserId())
	assert.Equal(t, "pm_card_visa", a.GetPaymentMethod())
	assert.Equal(t, int64(2599), a.GetAmount().GetAmountMinor())
	assert.Equal(t, "USD", a.GetAmount().GetCurrency())
}

func declined(t *testing.T, code string) error {
	t.Helper()
	st, err := status.New(codes.FailedPrecondition, "Your card was declined.").WithDetails(&errdetails.ErrorInfo{
		Reason: payment.ReasonDeclined, Domain: "payment.slipway.dev", Metadata: map[string]string{"decline_code": code},
	})
	require.NoError(t, err)
	return st.Err()
}

func TestAnswersBecomeTheDomainsKinds(t *testing.T) {
	tests := map[string]struct {
		answer    error
		declined  bool
		kind      error
		retryable bool
		message   string
	}{
		"a decline": {answer: declined(t, "insufficient_funds"), declined: true,
			message: "payment declined: insufficient_funds: Your card was declined."},
		"unavailable is retried": {answer: status.Error(codes.Unavailable, "provider down"), kind: errkind.Unavailable, retryable: true},
		"a deadline is retried":  {answer: status.Error(codes.DeadlineExceeded, "slow"), kind: errkind.Unavailable, retryable: true},
		"a precondition without the decline reason is not a decline": {
			answer: status.Error(codes.FailedPrecondition, "payment is captured: refund it"), kind: errkind.FailedPrecondition},
		"invalid":                         {answer: status.Error(codes.InvalidArgument, "bad amount"), kind: errkind.Invalid},
		"refused credentials are no kind": {answer: status.Error(codes.PermissionDenied, "not order"), message: "payment authorize: PermissionDenied: not order"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := dial(t, &payments{err: tt.answer})
			_, err := c.Authorize(context.Background(), domain.PaymentRequest{OrderID: "o1", UserID: "u1", Amount: total})
			require.Error(t, err)
			assert.Equal(t, tt.declined, errors.Is(err, domain.ErrPaymentDeclined), "declined: %v", err)
			if tt.kind != nil {
				assert.ErrorIs(t, err, tt.kind)
			}
			assert.Equal(t, tt.retryable, errors.Is(err, domain.ErrUnavailable), "retryable: %v", err)
			if tt.message != "" {
				assert.Equal(t, tt.message, err.Error())
			}
			var st interface{ GRPCStatus() *status.Status }
			assert.False(t, errors.As(err, &st), "the payment service's status must not reach the order's callers")
		})
	}
}

func TestACancelledCallIsContextCanceled(t *testing.T) {
	c := dial(t, &payments{err: status.Error(codes.Canceled, "gone")})
	err := c.Capture(context.Background(), "o1", total)
	assert.ErrorIs(t, err, context.Canceled)
}
