package domain

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

// Request limits the service enforces itself, so a caller that skips the
// edge's validation still cannot store nonsense.
const (
	maxOrderIDLen       = 64
	maxUserIDLen        = 128
	maxPaymentMethodLen = 64
	maxKeyLen           = 128
	maxIDLen            = 64
)

var (
	currencyPattern      = regexp.MustCompile(`^[A-Z]{3}$`)
	paymentMethodPattern = regexp.MustCompile(`^[A-Za-z0-9_:-]*$`)
)

// providerRetryAfter is the wait an Unavailable answer asks of the caller
// when the provider failed transiently or its answer was lost.
const providerRetryAfter = time.Second

// PaymentService charges for orders through a payment service provider and
// lets each user read their own payments. The order service alone calls
// Authorize, Capture, Void and Refund (the edge's policy sees to that), each
// idempotent by the order: a retry never charges twice.
type PaymentService struct {
	store PaymentStore
	psp   Provider
	now   func() time.Time
	newID func() (uuid.UUID, error)
}

// NewPaymentService returns the service over store, charging through psp.
func NewPaymentService(store PaymentStore, psp Provider) *PaymentService {
	return &PaymentService{store: store, psp: psp, now: time.Now, newID: uuid.NewV7}
}

// AuthorizeRequest asks to hold Amount on PaymentMethod for OrderID.
type AuthorizeRequest struct {
	OrderID        string
	UserID         string
	Amount         Money
	PaymentMethod  string
	IdempotencyKey string
}

func (r AuthorizeRequest) validate() error {
	switch {
	case r.OrderID == "" || len(r.OrderID) > maxOrderIDLen:
		return errkind.Field("order_id", fmt.Sprintf("must be 1 to %d bytes", maxOrderIDLen))
	case r.UserID == "" || len(r.UserID) > maxUserIDLen:
		return errkind.Field("user_id", fmt.Sprintf("must be 1 to %d bytes", maxUserIDLen))
	case len(r.PaymentMethod) > maxPaymentMethodLen || !paymentMethodPattern.MatchString(r.PaymentMethod):
		return errkind.Field("payment_method", fmt.Sprintf("must be at most %d letters, digits, '_', ':' or '-'", maxPaymentMethodLen))
	}
	if err := checkAmount(r.Amount); err != nil {
		return err
	}
	return checkKey(r.IdempotencyKey)
}

// Authorize holds r.Amount on r.PaymentMethod for r.OrderID. An order has
// one payment: asking again with the same amount and payment method
// returns it (settling it first if it is PENDING, with the key it was
// asked with), and with another is ErrFailedPrecondition. The payment is
// stored PENDING before the provider is asked, so that a crash in between
// leaves a payment a retry settles. A decline is a *DeclineError; a
// provider that failed transiently or whose answer was lost is
// ErrUnavailable, the payment staying PENDING.
func (s *PaymentService) Authorize(ctx context.Context, r AuthorizeRequest) (Payment, error) {
	r.Amount.Currency = strings.ToUpper(r.Amount.Currency)
	if err := r.validate(); err != nil {
		return Payment{}, err
	}
	existing, err := s.store.GetByOrder(ctx, r.OrderID)
	switch {
	case err == nil:
		return s.authorizeAgain(ctx, existing, r)
	case !errors.Is(err, ErrNotFound):
		return Payment{}, fmt.Errorf("authorize order %s: %w", r.OrderID, err)
	}

	id, err := s.newID()
	if err != nil {
		return Payment{}, fmt.Errorf("new payment id: %w", err)
	}
	now := s.timestamp()
	p := Payment{
		ID: id.String(), OrderID: r.OrderID, UserID: r.UserID, Amount: r.Amount, State: StatePending,
		Provider: s.psp.Name(), PaymentMethod: r.PaymentMethod, IdempotencyKey: r.IdempotencyKey,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.Create(ctx, p); err != nil {
		if !errors.Is(err, ErrAlreadyExists) {
			return Payment{}, fmt.Errorf("authorize order %s: %w", r.OrderID, err)
		}
		// A concurrent request for the order stored its payment first.
		existing, err := s.store.GetByOrder(ctx, r.OrderID)
		if err != nil {
			return Payment{}, fmt.Errorf("authorize order %s: %w", r.OrderID, err)
		}
		return s.authorizeAgain(ctx, existing, r)
	}
	// A Void that found no payment, before this one was stored, means the
	// order gave up: this payment is voided before the provider is asked.
	// (Void records the order first and then looks for a payment; this
	// stores the payment first and then looks for the record: one of the
	// two always sees the other.)
	voided, err := s.store.VoidedUnpaid(ctx, r.OrderID)
	if err != nil {
		return Payment{}, fmt.Errorf("authorize order %s: %w", r.OrderID, err)
	}
	if voided {
		next := p
		next.State, next.UpdatedAt = StateVoided, s.timestamp()
		if _, err := s.transition(ctx, next, StatePending); err != nil {
			return Payment{}, err
		}
		return Payment{}, fmt.Errorf("order %s's payment was voided before it was authorized: %w", r.OrderID, ErrFailedPrecondition)
	}
	return s.settle(ctx, p)
}

// authorizeAgain answers an Authorize of an order that has payment p.
func (s *PaymentService) authorizeAgain(ctx context.Context, p Payment, r AuthorizeRequest) (Payment, error) {
	if p.Amount != r.Amount || p.PaymentMethod != r.PaymentMethod || p.UserID != r.UserID {
		return Payment{}, fmt.Errorf("order %s already has a payment of %s on %q for %s: %w",
			r.OrderID, p.Amount, p.PaymentMethod, p.UserID, ErrFailedPrecondition)
	}
	switch p.State {
	case StatePending:
		return s.settle(ctx, p)
	case StateDeclined:
		// The first answer, again: the same request is declined the same way.
		return Payment{}, &DeclineError{Code: p.DeclineCode, Message: p.DeclineMessage}
	case StateVoided:
		// Voided (or abandoned) before this Authorize: it never holds again,
		// so an order whose saga gave up cannot be placed on it.
		return Payment{}, fmt.Errorf("order %s's payment is voided: %w", r.OrderID, ErrFailedPrecondition)
	}
	return p, nil
}

// settle asks the provider to authorize PENDING payment p with its own
// idempotency key, and stores what it answered.
func (s *PaymentService) settle(ctx context.Context, p Payment) (Payment, error) {
	auth, err := s.psp.Authorize(ctx, provider.AuthorizeRequest{
		IdempotencyKey: p.IdempotencyKey, OrderID: p.OrderID, UserID: p.UserID,
		Amount: p.Amount.AmountMinor, Currency: p.Amount.Currency, PaymentMethod: p.PaymentMethod,
	})
	next := p
	next.UpdatedAt = s.timestamp()
	if decline, ok := provider.IsDeclined(err); ok {
		next.State, next.ProviderRef = StateDeclined, decline.Ref
		next.DeclineCode, next.DeclineMessage = decline.Code, decline.Message
		return s.declined(ctx, next)
	}
	if errors.Is(err, provider.ErrInvalidRequest) || errors.Is(err, provider.ErrNotFound) {
		// Amount and currency are checked above, so what the provider
		// refuses is the payment method: as permanent as a decline.
		next.State = StateDeclined
		next.DeclineCode, next.DeclineMessage = DeclineInvalidPaymentMethod, "The payment method is not accepted."
		return s.declined(ctx, next)
	}
	if err != nil {
		return Payment{}, providerError("authorize", p.OrderID, err)
	}
	next.ProviderRef = auth.Ref
	if auth.Status != provider.StatusAuthorized {
		// The provider decides later (provider.StatusPending): keep the ref
		// and let a retry with the same key learn the outcome.
		if _, err := s.transition(ctx, next, StatePending); err != nil && !errors.Is(err, ErrConflict) {
			return Payment{}, err
		}
		return Payment{}, errkind.Unreachable("payment provider", providerRetryAfter,
			fmt.Errorf("authorize order %s: the provider has not decided yet (%s)", p.OrderID, auth.Status))
	}
	next.State = StateAuthorized
	return s.transition(ctx, next, StatePending)
}

// declined stores PENDING payment next as DECLINED and returns the
// decline; if another request stored its answer first, that answer.
func (s *PaymentService) declined(ctx context.Context, next Payment) (Payment, error) {
	stored, err := s.transition(ctx, next, StatePending)
	switch {
	case err != nil:
		return Payment{}, err
	case stored.State != StateDeclined:
		return stored, nil
	}
	return Payment{}, &DeclineError{Code: stored.DeclineCode, Message: stored.DeclineMessage}
}

// DeclineInvalidPaymentMethod is the decline code of a payment method the
// provider does not know or accept.
const DeclineInvalidPaymentMethod = "invalid_payment_method"

// CaptureRequest asks to take the authorized Amount of OrderID's payment.
type CaptureRequest struct {
	OrderID        string
	Amount         Money
	IdempotencyKey string
}

// Capture takes the authorized amount of the order's payment, which
// r.Amount must equal (Slipway captures in full). A captured payment is
// returned unchanged: the provider captures at most once. A PENDING
// payment is settled first.
func (s *PaymentService) Capture(ctx context.Context, r CaptureRequest) (Payment, error) {
	r.Amount.Currency = strings.ToUpper(r.Amount.Currency)
	if err := firstError(checkOrderID(r.OrderID), checkAmount(r.Amount), checkKey(r.IdempotencyKey)); err != nil {
		return Payment{}, err
	}
	p, err := s.current(ctx, r.OrderID)
	if err != nil {
		return Payment{}, fmt.Errorf("capture order %s: %w", r.OrderID, err)
	}
	if p.Amount != r.Amount {
		return Payment{}, fmt.Errorf("capture of %s: order %s authorized %s; Slipway captures in full: %w",
			r.Amount, r.OrderID, p.Amount, ErrFailedPrecondition)
	}
	switch p.State {
	case StateCaptured:
		return p, nil
	case StateAuthorized:
	default:
		return Payment{}, wrongState("capture", p)
	}
	if err := s.psp.Capture(ctx, r.IdempotencyKey, p.ProviderRef, p.Amount.AmountMinor); err != nil {
		return s.afterRefusal(ctx, "capture", p, StateCaptured, err)
	}
	p.State, p.UpdatedAt = StateCaptured, s.timestamp()
	return s.transition(ctx, p, StateAuthorized)
}

// VoidRequest asks to release OrderID's authorization.
type VoidRequest struct {
	OrderID        string
	IdempotencyKey string
}

// Void releases the order's authorization. An order with no payment is
// fine (ok false): a saga that never heard how its Authorize ended voids
// anyway. A PENDING payment is settled first; a voided or declined one is
// returned unchanged; a captured or refunded one is ErrFailedPrecondition
// (refund it instead).
func (s *PaymentService) Void(ctx context.Context, r VoidRequest) (p Payment, ok bool, err error) {
	if err := firstError(checkOrderID(r.OrderID), checkKey(r.IdempotencyKey)); err != nil {
		return Payment{}, false, err
	}
	p, err = s.currentWithin(ctx, r.OrderID)
	if errors.Is(err, ErrNotFound) {
		// No payment yet: record the void, so an Authorize still on its way
		// voids its own payment; then look again, for one stored meanwhile.
		if err := s.store.VoidUnpaid(ctx, r.OrderID, s.timestamp()); err != nil {
			return Payment{}, false, fmt.Errorf("void order %s: %w", r.OrderID, err)
		}
		p, err = s.currentWithin(ctx, r.OrderID)
		if errors.Is(err, ErrNotFound) {
			return Payment{}, false, nil
		}
	}
	if err != nil && (errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
		// The authorization's outcome is still unknown (the provider never
		// answered it): abandon it. The payment is VOIDED, so no later
		// Authorize or Capture of it succeeds; an authorization that landed
		// at the provider anyway is never captured and lapses there.
		return s.abandon(ctx, r.OrderID)
	}
	if err != nil {
		var decline *DeclineError
		if errors.As(err, &decline) {
			// Settled as declined: nothing is held, nothing to void.
			p, err = s.store.GetByOrder(ctx, r.OrderID)
			if err != nil {
				return Payment{}, false, fmt.Errorf("void order %s: %w", r.OrderID, err)
			}
			return p, true, nil
		}
		return Payment{}, false, fmt.Errorf("void order %s: %w", r.OrderID, err)
	}
	switch p.State {
	case StateVoided, StateDeclined:
		return p, true, nil
	case StateAuthorized:
	default:
		return Payment{}, false, wrongState("void", p)
	}
	if err := s.psp.Void(ctx, r.IdempotencyKey, p.ProviderRef); err != nil {
		p, err = s.afterRefusal(ctx, "void", p, StateVoided, err)
		return p, err == nil, err
	}
	p.State, p.UpdatedAt = StateVoided, s.timestamp()
	p, err = s.transition(ctx, p, StateAuthorized)
	return p, err == nil, err
}

// abandon voids the order's PENDING payment without the provider, whose
// answer to its authorization never came. A payment that settled meanwhile
// is voided the normal way by the caller's retry.
func (s *PaymentService) abandon(ctx context.Context, orderID string) (Payment, bool, error) {
	p, err := s.store.GetByOrder(ctx, orderID)
	if err != nil {
		return Payment{}, false, fmt.Errorf("void order %s: %w", orderID, err)
	}
	if p.State != StatePending {
		return Payment{}, false, fmt.Errorf("void order %s: its payment became %s meanwhile; retry: %w", orderID, p.State, ErrUnavailable)
	}
	next := p
	next.State, next.UpdatedAt = StateVoided, s.timestamp()
	next, err = s.transition(ctx, next, StatePending)
	if err != nil {
		return Payment{}, false, err
	}
	if next.State != StateVoided {
		return Payment{}, false, fmt.Errorf("void order %s: its payment became %s meanwhile; retry: %w", orderID, next.State, ErrUnavailable)
	}
	return next, true, nil
}

// RefundRequest asks to give back the captured Amount of OrderID's payment.
type RefundRequest struct {
	OrderID        string
	Amount         Money
	IdempotencyKey string
}

// Refund gives the order's captured payment back in full; r.Amount must
// equal it. A refunded payment is returned unchanged.
func (s *PaymentService) Refund(ctx context.Context, r RefundRequest) (Payment, error) {
	r.Amount.Currency = strings.ToUpper(r.Amount.Currency)
	if err := firstError(checkOrderID(r.OrderID), checkAmount(r.Amount), checkKey(r.IdempotencyKey)); err != nil {
		return Payment{}, err
	}
	p, err := s.store.GetByOrder(ctx, r.OrderID)
	if err != nil {
		return Payment{}, fmt.Errorf("refund order %s: %w", r.OrderID, err)
	}
	if p.Amount != r.Amount {
		return Payment{}, fmt.Errorf("refund of %s: order %s was charged %s; Slipway refunds in full: %w",
			r.Amount, r.OrderID, p.Amount, ErrFailedPrecondition)
	}
	switch p.State {
	case StateRefunded:
		return p, nil
	case StateCaptured:
	default:
		return Payment{}, wrongState("refund", p)
	}
	if err := s.psp.Refund(ctx, r.IdempotencyKey, p.ProviderRef, p.Amount.AmountMinor); err != nil {
		return s.afterRefusal(ctx, "refund", p, StateRefunded, err)
	}
	p.State, p.UpdatedAt = StateRefunded, s.timestamp()
	return s.transition(ctx, p, StateCaptured)
}

// current returns the order's payment, settling it first if it is PENDING.
func (s *PaymentService) current(ctx context.Context, orderID string) (Payment, error) {
	p, err := s.store.GetByOrder(ctx, orderID)
	if err != nil {
		return Payment{}, err
	}
	if p.State == StatePending {
		return s.settle(ctx, p)
	}
	return p, nil
}

// settleShare is the part of a Void's time that settling a PENDING payment
// may take, so that abandoning it still has time when the provider never
// answers.
const settleShare = 2

// currentWithin is current, with a PENDING payment settled in at most half
// of what is left of ctx.
func (s *PaymentService) currentWithin(ctx context.Context, orderID string) (Payment, error) {
	settleCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		settleCtx, cancel = context.WithTimeout(ctx, time.Until(deadline)/settleShare)
		defer cancel()
	}
	return s.current(settleCtx, orderID)
}

// afterRefusal answers a Capture, Void or Refund of p that the provider
// refused with err. A refusal because the payment's state changed is a
// concurrent request that won: if it left p in want, that is the answer.
func (s *PaymentService) afterRefusal(ctx context.Context, op string, p Payment, want State, err error) (Payment, error) {
	if errors.Is(err, provider.ErrWrongState) {
		if now, gerr := s.store.GetByOrder(ctx, p.OrderID); gerr == nil && now.State == want {
			return now, nil
		}
		return Payment{}, fmt.Errorf("%s order %s: the provider refused: %w", op, p.OrderID, ErrFailedPrecondition)
	}
	return Payment{}, providerError(op, p.OrderID, err)
}

// transition stores next if the payment is still in from. When another
// request changed it first, the stored payment is the answer: every
// request for a payment asks the provider the same thing, so the first to
// store its answer stored the one answer.
func (s *PaymentService) transition(ctx context.Context, next Payment, from State) (Payment, error) {
	err := s.store.Transition(ctx, next, from)
	if err == nil {
		return next, nil
	}
	if !errors.Is(err, ErrConflict) {
		return Payment{}, fmt.Errorf("store payment %s %s: %w", next.ID, next.State, err)
	}
	stored, gerr := s.store.GetByOrder(ctx, next.OrderID)
	if gerr != nil {
		return Payment{}, fmt.Errorf("reread payment %s: %w", next.ID, gerr)
	}
	return stored, nil
}

// providerError is what a caller reads of a provider failure that is not a
// decline: retryable ones are ErrUnavailable (retry with the same key),
// anything else is an internal failure.
func providerError(op, orderID string, err error) error {
	if provider.Retryable(err) {
		return errkind.Unreachable("payment provider", providerRetryAfter, fmt.Errorf("%s order %s: %w", op, orderID, err))
	}
	return fmt.Errorf("%s order %s: %w", op, orderID, err)
}

func wrongState(op string, p Payment) error {
	return fmt.Errorf("cannot %s the payment of order %s: it is %s: %w", op, p.OrderID, p.State, ErrFailedPrecondition)
}

// timestamp is now in microseconds, what PostgreSQL keeps, so a read
// returns what was stored.
func (s *PaymentService) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func checkOrderID(id string) error {
	if id == "" || len(id) > maxOrderIDLen {
		return errkind.Field("order_id", fmt.Sprintf("must be 1 to %d bytes", maxOrderIDLen))
	}
	return nil
}

func checkAmount(m Money) error {
	switch {
	case !currencyPattern.MatchString(m.Currency):
		return errkind.Field("amount.currency", "must be a three-letter ISO 4217 code")
	case m.AmountMinor <= 0:
		return errkind.Field("amount.amount_minor", "must be greater than zero")
	}
	return nil
}

func checkKey(key string) error {
	if strings.TrimSpace(key) == "" || len(key) > maxKeyLen || !utf8.ValidString(key) {
		return errkind.Field("idempotency_key", fmt.Sprintf("must be 1 to %d bytes", maxKeyLen))
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
