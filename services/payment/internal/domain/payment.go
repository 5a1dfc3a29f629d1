// Package domain holds the payment service's types, its rules and the
// ports it needs: storage (PaymentStore) and the payment service provider
// (provider.Provider). It imports no transport and no storage: the rpc
// package translates requests into calls here, and the store package
// implements PaymentStore.
package domain

import (
	"fmt"
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Error kinds the payment service returns, named over the platform's kinds
// so the edge maps them to gRPC codes and HTTP statuses once.
var (
	ErrNotFound           = errkind.NotFound
	ErrAlreadyExists      = errkind.AlreadyExists
	ErrConflict           = errkind.Conflict
	ErrInvalid            = errkind.Invalid
	ErrFailedPrecondition = errkind.FailedPrecondition
	ErrUnauthenticated    = errkind.Unauthenticated
	ErrPermissionDenied   = errkind.PermissionDenied
	ErrUnavailable        = errkind.Unavailable
)

// State is where a payment is in its life.
type State string

// The states of a payment. PENDING is an authorization asked for whose
// outcome is not known yet; a retry with its idempotency key settles it.
const (
	StatePending    State = "PENDING"
	StateAuthorized State = "AUTHORIZED"
	StateCaptured   State = "CAPTURED"
	StateVoided     State = "VOIDED"
	StateRefunded   State = "REFUNDED"
	StateDeclined   State = "DECLINED"
)

// Money is an amount in a currency's minor units (cents).
type Money struct {
	Currency    string // ISO 4217, upper case
	AmountMinor int64
}

// String implements fmt.Stringer: "1999 USD".
func (m Money) String() string { return fmt.Sprintf("%d %s", m.AmountMinor, m.Currency) }

// Payment is the charge for one order: one payment per order.
type Payment struct {
	ID      string // a UUIDv7: ids sort in creation order
	OrderID string
	UserID  string // the order's owner, who may read the payment
	Amount  Money
	State   State
	// Provider names the payment service provider ("sandbox", "stripe");
	// ProviderRef is its id of the charge, once it made one.
	Provider    string
	ProviderRef string
	// PaymentMethod is the provider's token the order pays with; "" is the
	// sandbox's default card.
	PaymentMethod string
	// IdempotencyKey is the key the authorization was asked with: settling
	// a PENDING payment asks again with it, so the provider answers the
	// first request instead of holding the amount twice.
	IdempotencyKey string
	DeclineCode    string
	DeclineMessage string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// DeclineError is an authorization the provider declined: permanent, and
// FailedPrecondition at the edge, which adds the reason PAYMENT_DECLINED
// and the decline code.
type DeclineError struct {
	// Code is the provider's machine-readable reason ("card_declined",
	// "insufficient_funds").
	Code string
	// Message is the provider's explanation, fit to show the customer.
	Message string
}

// Error implements error.
func (e *DeclineError) Error() string {
	return fmt.Sprintf("payment declined (%s): %s", e.Code, e.Message)
}

// Is makes a DeclineError an ErrFailedPrecondition.
func (e *DeclineError) Is(target error) bool { return target == ErrFailedPrecondition }

// Role is the role of a caller's token.
type Role string

// Roles of the callers: customers and admins read payments; a service
// account does not.
const (
	RoleCustomer Role = "customer"
	RoleAdmin    Role = "admin"
	RoleService  Role = "service"
)

// Actor is the authenticated caller of an operation, as the edge saw it.
type Actor struct {
	Subject string
	Role    Role
}
