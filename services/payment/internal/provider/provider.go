// Package provider is the payment service's port to a payment service
// provider (PSP): authorize a hold on funds, then capture, void or refund
// it. Every call carries an idempotency key, so the saga retries a step
// with the same key and the provider applies it at most once.
//
// A failed call is one of four kinds, which decide what the saga does:
//
//	declined          IsDeclined(err)        permanent: fail the order with DeclineError.Code
//	transient         errors.Is(err, ErrTransient)       nothing happened: retry with backoff
//	outcome unknown   errors.Is(err, ErrOutcomeUnknown)  may have happened: retry with the SAME key
//	permanent         anything else          a bad request or a forbidden state change: do not retry
//
// Retryable(err) is true for the middle two.
package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Status is where a payment stands at the provider.
type Status string

// The statuses of a payment.
const (
	// StatusAuthorized is a hold on the funds, waiting for capture or void.
	StatusAuthorized Status = "authorized"
	// StatusCaptured is a hold turned into a charge, in full or in part.
	StatusCaptured Status = "captured"
	// StatusVoided is a hold released without a charge.
	StatusVoided Status = "voided"
	// StatusRefunded is a charge paid back in full.
	StatusRefunded Status = "refunded"
	// StatusPending is a request the provider accepted but decides later;
	// its outcome arrives asynchronously (a webhook).
	StatusPending Status = "pending"
)

// AuthorizeRequest asks the provider to hold Amount on PaymentMethod.
type AuthorizeRequest struct {
	// IdempotencyKey makes the request safe to send again: the provider
	// answers a repeat with the first answer.
	IdempotencyKey string
	// OrderID and UserID are recorded with the payment for reconciliation.
	OrderID, UserID string
	// Amount is in the currency's minor units (cents), greater than zero.
	Amount int64
	// Currency is an ISO 4217 code in either case ("usd" or "USD");
	// providers send it lower-case, as Stripe wants it.
	Currency string
	// PaymentMethod is the provider's token for the means of payment,
	// such as a sandbox test card ("pm_card_visa").
	PaymentMethod string
}

// Validate reports a request no provider can accept, as ErrInvalidRequest.
func (r AuthorizeRequest) Validate() error {
	switch {
	case strings.TrimSpace(r.IdempotencyKey) == "":
		return fmt.Errorf("%w: an idempotency key is required", ErrInvalidRequest)
	case r.Amount <= 0:
		return fmt.Errorf("%w: amount %d must be greater than zero", ErrInvalidRequest, r.Amount)
	case !isCurrency(r.Currency):
		return fmt.Errorf("%w: currency %q is not a three-letter ISO 4217 code", ErrInvalidRequest, r.Currency)
	}
	return nil
}

func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// Authorization is a hold the provider placed.
type Authorization struct {
	// Ref is the provider's id of the payment (a Stripe PaymentIntent id);
	// Capture, Void and Refund take it.
	Ref string
	// Status is StatusAuthorized, or StatusPending when the provider
	// decides later.
	Status Status
}

// Provider is a payment service provider. Every method is safe to call
// again with the same idempotency key and arguments: a repeat returns the
// first call's result without a second effect. The same key with other
// arguments is refused (ErrIdempotencyKeyReused).
type Provider interface {
	// Name names the provider ("sandbox", "stripe"), for logs and metrics.
	Name() string
	// Authorize holds r.Amount on r.PaymentMethod for a later Capture
	// (manual capture). A refused payment is a *DeclineError.
	Authorize(ctx context.Context, r AuthorizeRequest) (Authorization, error)
	// Capture charges amount (at most the authorized amount; 0 captures
	// all of it) of the hold ref and releases the rest.
	Capture(ctx context.Context, idempotencyKey, ref string, amount int64) error
	// Void releases the hold ref without charging it.
	Void(ctx context.Context, idempotencyKey, ref string) error
	// Refund pays back amount of what ref captured (0 refunds all that is
	// left); refunds add up to at most the captured amount.
	Refund(ctx context.Context, idempotencyKey, ref string, amount int64) error
}

// Errors a provider returns, wrapped with detail; test with errors.Is.
var (
	// ErrTransient is a failure before the request took effect (the
	// provider is unreachable, overloaded or rate-limiting): retry later.
	ErrTransient = errors.New("payment provider: transient failure")
	// ErrOutcomeUnknown is a request whose answer was lost (a timeout, a
	// broken connection): it may or may not have taken effect. Sending it
	// again with the same idempotency key is safe and tells which.
	ErrOutcomeUnknown = errors.New("payment provider: outcome unknown")
	// ErrInvalidRequest is a request the provider will never accept as it
	// is (a missing field, an unknown payment method, a refund larger than
	// what is left).
	ErrInvalidRequest = errors.New("payment provider: invalid request")
	// ErrIdempotencyKeyReused is a key sent again with other arguments.
	ErrIdempotencyKeyReused = errors.New("payment provider: idempotency key reused with other parameters")
	// ErrNotFound is a ref the provider does not know.
	ErrNotFound = errors.New("payment provider: no such payment")
	// ErrWrongState is a change the payment's state forbids: capturing a
	// voided hold, voiding a captured one, refunding one never captured.
	ErrWrongState = errors.New("payment provider: not allowed in the payment's state")
)

// DeclineError is a payment the provider or the card issuer refused. It is
// permanent: the same payment method will be refused again.
type DeclineError struct {
	// Code is the most specific machine-readable reason: the issuer's
	// decline code when it gave one ("insufficient_funds", "fraudulent"),
	// else the provider's ("card_declined", "expired_card",
	// "authentication_required").
	Code string
	// Message is the provider's explanation, fit to show the customer.
	Message string
	// Ref is the provider's id of the refused payment, if it made one.
	Ref string
}

// Error implements error.
func (e *DeclineError) Error() string {
	return fmt.Sprintf("payment declined (%s): %s", e.Code, e.Message)
}

// IsDeclined returns the *DeclineError in err's chain, if any.
func IsDeclined(err error) (*DeclineError, bool) {
	var d *DeclineError
	if errors.As(err, &d) {
		return d, true
	}
	return nil, false
}

// Retryable reports whether sending the same request again, with the same
// idempotency key, may succeed: err is ErrTransient or ErrOutcomeUnknown.
func Retryable(err error) bool {
	return errors.Is(err, ErrTransient) || errors.Is(err, ErrOutcomeUnknown)
}

// IsTransient reports whether err is ErrTransient: the request had no
// effect and may be retried after a backoff.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// IsOutcomeUnknown reports whether err is ErrOutcomeUnknown: the request
// may have taken effect, and only a retry with the same key tells.
func IsOutcomeUnknown(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }

// Interrupted returns the error for a call that ctx ended before its answer
// arrived: ErrOutcomeUnknown, still matching ctx's own error.
func Interrupted(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, context.Cause(ctx))
}
