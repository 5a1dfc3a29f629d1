package app_test

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
)

// cardDeclined is the sandbox's test card that is always declined, with
// the decline code card_declined.
const cardDeclined = "pm_card_chargeDeclined"

// fakePayments is paymentv1.PaymentService's internal half (authorize,
// capture, void, refund) with the real one's contract: one payment per
// order; the same key answers its first result again without a second
// effect; a declined card is FAILED_PRECONDITION with an ErrorInfo
// PAYMENT_DECLINED and its decline_code, and stays declined; a void of an
// order without a payment succeeds, of a captured one is refused; capture
// and refund are in full. A test injects UNAVAILABLE answers with
// unavailable (the call never reached the provider) or loseAnswers (the
// effect happened, its answer was lost).
type fakePayments struct {
	paymentv1.UnimplementedPaymentServiceServer

	mu       sync.Mutex
	payments map[string]*paymentv1.Payment // by order id
	answers  map[string]proto.Message      // the first successful answer of each idempotency key
	declines map[string]error              // the decline each authorize key got
	outages  map[string]int                // method -> UNAVAILABLE answers left, before the effect
	lost     map[string]int                // method -> UNAVAILABLE answers left, after the effect
	calls    map[string]int                // method -> calls received
	effects  map[paymentv1.PaymentState]int
	callers  map[string]bool // the subjects of the tokens that called
}

func newFakePayments() *fakePayments {
	return &fakePayments{
		payments: map[string]*paymentv1.Payment{},
		answers:  map[string]proto.Message{},
		declines: map[string]error{},
		outages:  map[string]int{},
		lost:     map[string]int{},
		calls:    map[string]int{},
		effects:  map[paymentv1.PaymentState]int{},
		callers:  map[string]bool{},
	}
}

// unavailable makes the next n calls of method (a full method name) fail
// with UNAVAILABLE before they reach the provider.
func (f *fakePayments) unavailable(method string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outages[method] = n
}

// loseAnswers makes the next n calls of method take effect and then answer
// UNAVAILABLE, as when the connection drops after the provider answered.
func (f *fakePayments) loseAnswers(method string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lost[method] = n
}

// paymentCounts is what the fake did: each state a payment was moved to
// (authorized, captured, voided, refunded, declined), and calls by method.
type paymentCounts struct {
	Authorized, Captured, Voided, Refunded, Declined int
}

func (f *fakePayments) counts() paymentCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return paymentCounts{
		Authorized: f.effects[paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED],
		Captured:   f.effects[paymentv1.PaymentState_PAYMENT_STATE_CAPTURED],
		Voided:     f.effects[paymentv1.PaymentState_PAYMENT_STATE_VOIDED],
		Refunded:   f.effects[paymentv1.PaymentState_PAYMENT_STATE_REFUNDED],
		Declined:   f.effects[paymentv1.PaymentState_PAYMENT_STATE_DECLINED],
	}
}

// callsOf is how many calls of method (a full method name) arrived.
func (f *fakePayments) callsOf(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// state is the state of the order's payment, UNSPECIFIED when it has none.
func (f *fakePayments) state(orderID string) paymentv1.PaymentState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.payments[orderID].GetState()
}

// callerSubjects are the subjects of the tokens that called.
func (f *fakePayments) callerSubjects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for s := range f.callers {
		out = append(out, s)
	}
	return out
}

// call runs one call of method under the lock: it records the caller,
// injects what the test asked for, and answers a key's first success again.
// effect does the work and returns the answer to remember under key.
func (f *fakePayments) call(ctx context.Context, method, key string, effect func() (proto.Message, error)) (proto.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if c, ok := auth.FromContext(ctx); ok {
		f.callers[c.Subject] = true
	}
	if f.outages[method] > 0 {
		f.outages[method]--
		return nil, status.Error(codes.Unavailable, "payment provider unreachable")
	}
	if key == "" {
		return nil, status.Error(codes.InvalidArgument, "idempotency_key: must be 1 to 128 bytes")
	}
	resp, err := f.answers[key], f.declines[key]
	if resp == nil && err == nil {
		resp, err = effect()
		switch {
		case err == nil:
			f.answers[key] = resp
		case isDecline(err):
			f.declines[key] = err
		}
	}
	if err == nil && f.lost[method] > 0 {
		f.lost[method]--
		return nil, status.Error(codes.Unavailable, "connection lost before the answer")
	}
	if err != nil {
		return nil, err
	}
	return proto.Clone(resp), nil
}

func isDecline(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "PAYMENT_DECLINED" {
			return true
		}
	}
	return false
}

func decline(code, message string) error {
	st, err := status.New(codes.FailedPrecondition, message).WithDetails(&errdetails.ErrorInfo{
		Reason: "PAYMENT_DECLINED", Domain: "payment.slipway.dev", Metadata: map[string]string{"decline_code": code},
	})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func validMoney(m *moneyv1.Money) error {
	if len(m.GetCurrency()) != 3 || m.GetAmountMinor() <= 0 {
		return status.Errorf(codes.InvalidArgument, "amount: want a currency and more than zero, got %v", m)
	}
	return nil
}

// move sets p's state and counts the effect.
func (f *fakePayments) move(p *paymentv1.Payment, to paymentv1.PaymentState) {
	p.State, p.UpdatedAt = to, timestamppb.Now()
	f.effects[to]++
}

func (f *fakePayments) AuthorizePayment(ctx context.Context, req *paymentv1.AuthorizePaymentRequest) (*paymentv1.AuthorizePaymentResponse, error) {
	resp, err := f.call(ctx, paymentv1.PaymentService_AuthorizePayment_FullMethodName, req.GetIdempotencyKey(), func() (proto.Message, error) {
		if req.GetOrderId() == "" || req.GetUserId() == "" {
			return nil, status.Error(codes.InvalidArgument, "order_id and user_id are required")
		}
		if err := validMoney(req.GetAmount()); err != nil {
			return nil, err
		}
		if p, ok := f.payments[req.GetOrderId()]; ok {
			if !proto.Equal(p.GetAmount(), req.GetAmount()) || p.GetPaymentMethod() != req.GetPaymentMethod() || p.GetUserId() != req.GetUserId() {
				return nil, status.Errorf(codes.FailedPrecondition, "order %s already has another payment", req.GetOrderId())
			}
			if p.GetState() == paymentv1.PaymentState_PAYMENT_STATE_DECLINED {
				return nil, decline(p.GetDeclineCode(), p.GetDeclineMessage())
			}
			return &paymentv1.AuthorizePaymentResponse{Payment: proto.Clone(p).(*paymentv1.Payment)}, nil
		}
		p := &paymentv1.Payment{
			Id: uuid.NewString(), OrderId: req.GetOrderId(), UserId: req.GetUserId(), Amount: req.GetAmount(),
			Provider: "sandbox", PaymentMethod: req.GetPaymentMethod(), CreatedAt: timestamppb.New(time.Now()),
		}
		f.payments[req.GetOrderId()] = p
		if req.GetPaymentMethod() == cardDeclined {
			p.DeclineCode, p.DeclineMessage = "card_declined", "Your card was declined."
			f.move(p, paymentv1.PaymentState_PAYMENT_STATE_DECLINED)
			return nil, decline(p.GetDeclineCode(), p.GetDeclineMessage())
		}
		f.move(p, paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED)
		return &paymentv1.AuthorizePaymentResponse{Payment: proto.Clone(p).(*paymentv1.Payment)}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*paymentv1.AuthorizePaymentResponse), nil
}

// settled returns the order's payment for a capture or refund of amount.
func (f *fakePayments) settled(orderID string, amount *moneyv1.Money) (*paymentv1.Payment, error) {
	if err := validMoney(amount); err != nil {
		return nil, err
	}
	p, ok := f.payments[orderID]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "order %s has no payment", orderID)
	}
	if !proto.Equal(p.GetAmount(), amount) {
		return nil, status.Errorf(codes.FailedPrecondition, "order %s was authorized %v, not %v: Slipway settles in full", orderID, p.GetAmount(), amount)
	}
	return p, nil
}

func (f *fakePayments) CapturePayment(ctx context.Context, req *paymentv1.CapturePaymentRequest) (*paymentv1.CapturePaymentResponse, error) {
	resp, err := f.call(ctx, paymentv1.PaymentService_CapturePayment_FullMethodName, req.GetIdempotencyKey(), func() (proto.Message, error) {
		p, err := f.settled(req.GetOrderId(), req.GetAmount())
		if err != nil {
			return nil, err
		}
		switch p.GetState() {
		case paymentv1.PaymentState_PAYMENT_STATE_CAPTURED:
		case paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED:
			f.move(p, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED)
		default:
			return nil, status.Errorf(codes.FailedPrecondition, "cannot capture the payment of order %s: it is %s", p.GetOrderId(), p.GetState())
		}
		return &paymentv1.CapturePaymentResponse{Payment: proto.Clone(p).(*paymentv1.Payment)}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*paymentv1.CapturePaymentResponse), nil
}

func (f *fakePayments) VoidPayment(ctx context.Context, req *paymentv1.VoidPaymentRequest) (*paymentv1.VoidPaymentResponse, error) {
	resp, err := f.call(ctx, paymentv1.PaymentService_VoidPayment_FullMethodName, req.GetIdempotencyKey(), func() (proto.Message, error) {
		p, ok := f.payments[req.GetOrderId()]
		if !ok {
			return &paymentv1.VoidPaymentResponse{}, nil // no payment: nothing is held
		}
		switch p.GetState() {
		case paymentv1.PaymentState_PAYMENT_STATE_VOIDED, paymentv1.PaymentState_PAYMENT_STATE_DECLINED:
		case paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED:
			f.move(p, paymentv1.PaymentState_PAYMENT_STATE_VOIDED)
		default:
			return nil, status.Errorf(codes.FailedPrecondition, "cannot void the payment of order %s: it is %s", p.GetOrderId(), p.GetState())
		}
		return &paymentv1.VoidPaymentResponse{Payment: proto.Clone(p).(*paymentv1.Payment)}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*paymentv1.VoidPaymentResponse), nil
}

func (f *fakePayments) RefundPayment(ctx context.Context, req *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, error) {
	resp, err := f.call(ctx, paymentv1.PaymentService_RefundPayment_FullMethodName, req.GetIdempotencyKey(), func() (proto.Message, error) {
		p, err := f.settled(req.GetOrderId(), req.GetAmount())
		if err != nil {
			return nil, err
		}
		switch p.GetState() {
		case paymentv1.PaymentState_PAYMENT_STATE_REFUNDED:
		case paymentv1.PaymentState_PAYMENT_STATE_CAPTURED:
			f.move(p, paymentv1.PaymentState_PAYMENT_STATE_REFUNDED)
		default:
			return nil, status.Errorf(codes.FailedPrecondition, "cannot refund the payment of order %s: it is %s", p.GetOrderId(), p.GetState())
		}
		return &paymentv1.RefundPaymentResponse{Payment: proto.Clone(p).(*paymentv1.Payment)}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*paymentv1.RefundPaymentResponse), nil
}
