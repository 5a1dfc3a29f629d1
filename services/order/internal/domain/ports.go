package domain

import (
	"context"
	"time"
)

// Only StockReserver and Payments, the boundaries to other services, are
// mocked; tests run the real OrderStore on SQLite.
//
//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . StockReserver,Payments

// OrderStore keeps orders. Every change is stored together with its event
// (a transactional outbox), so an event is published if and only if its
// change committed. Every transition is guarded by the state it leaves: it
// reports false, and stores nothing, when the order is no longer in that
// state (another driver moved it first), so of concurrent drivers one wins.
type OrderStore interface {
	// Create stores the PENDING order o (its Requested items, no lines yet).
	// When an order with o.ID, or of o.UserID with o.IdempotencyKey, is
	// already stored (or a concurrent transaction stores it first) it stores
	// nothing and returns an error wrapping ErrAlreadyExists.
	Create(ctx context.Context, o Order) error
	// Price stores the lines and total of the PENDING order o.ID, not yet
	// priced, with o.UpdatedAt.
	Price(ctx context.Context, o Order) (bool, error)
	// Place moves the PENDING order e.Order.ID to PLACED with its payment
	// AUTHORIZED, and stores e.
	Place(ctx context.Context, e OrderPlaced) (bool, error)
	// Captured records that the PLACED order id's AUTHORIZED payment was
	// captured.
	Captured(ctx context.Context, id string, at time.Time) (bool, error)
	// Fail moves the PENDING order e.Order.ID to FAILED with e.Reason and
	// e.Order.PaymentState, and stores e.
	Fail(ctx context.Context, e OrderFailed) (bool, error)
	// Released records that the FAILED order id's stock was released.
	Released(ctx context.Context, id string, at time.Time) (bool, error)
	// RequestCancel marks the PLACED order id, not yet being cancelled, as
	// being cancelled for reason.
	RequestCancel(ctx context.Context, id, reason string, at time.Time) (bool, error)
	// Cancel moves the PLACED order e.Order.ID whose payment is in state
	// from to CANCELLED, with e.Order's payment state, reason and update
	// time, and stores e.
	Cancel(ctx context.Context, e OrderCancelled, from PaymentState) (bool, error)
	// Get returns the order or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Order, error)
	// ByKey returns the order userID placed with the idempotency key, or an
	// error wrapping ErrNotFound.
	ByKey(ctx context.Context, userID, key string) (Order, error)
	// ListByUser returns up to limit orders of userID, newest first (by
	// CreatedAt, then ID, both descending), that come after the cursor; the
	// zero Cursor starts at the newest.
	ListByUser(ctx context.Context, userID string, after Cursor, limit int) ([]Order, error)
	// Unfinished returns up to limit orders, oldest change first, whose saga
	// has a step left and that have not changed since before: PENDING,
	// PLACED with the payment AUTHORIZED or a cancel begun, FAILED with the
	// stock not released.
	Unfinished(ctx context.Context, before time.Time, limit int) ([]Order, error)
	// Claim leases the order id to one recovery worker until until, when no
	// lease on it runs past now, so two instances do not drive one order at
	// once.
	Claim(ctx context.Context, id string, now, until time.Time) (bool, error)
}

// Cursor is a position in a user's orders, newest first: the listing
// resumes after the order with this creation time and id.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// IsZero reports whether c is the start of the listing.
func (c Cursor) IsZero() bool { return c.ID == "" && c.CreatedAt.IsZero() }

// OrderLimiter bounds how fast each user may place orders. Allow never
// fails: a limiter whose shared state is unreachable decides locally.
type OrderLimiter interface {
	// Allow reports whether userID may place one more order now and, when
	// not, how long until it may.
	Allow(ctx context.Context, userID string) (allowed bool, retryAfter time.Duration)
}

// StockReserver is the inventory service as the order service needs it.
// Its errors wrap ErrNotFound, ErrFailedPrecondition (for example too little
// stock), ErrUnavailable and the other kinds, so they keep their meaning.
type StockReserver interface {
	// Reserve holds the items' stock for the order, all or nothing, and
	// returns the name and unit price of each product as inventory took its
	// stock: what the order charges, so that what is reserved and what is
	// charged come from one read. It is idempotent by orderID: the same items
	// again hold nothing more and return the same prices; other items under
	// the same order id fail with ErrFailedPrecondition, an unknown product
	// with ErrNotFound. An inventory older than reserved prices returns none.
	Reserve(ctx context.Context, orderID string, items []Item) (map[string]Price, error)
	// Prices returns the name and unit price of each product in productIDs
	// that exists; an unknown product is missing from the map, not an error.
	// CreateOrder asks it only after a Reserve failed with ErrNotFound, to
	// name the request's line at fault.
	Prices(ctx context.Context, productIDs []string) (map[string]Price, error)
	// Release returns the order's reserved stock. It is idempotent, and a
	// release of an order never reserved stops a later Reserve of it.
	Release(ctx context.Context, orderID string) error
}

// Payments is the payment service as the order service needs it. Every
// call is idempotent by the order: the adapter derives its idempotency keys
// from the order id and the step, so a retry never charges twice.
//
// Errors: a decline wraps ErrPaymentDeclined (permanent, with the reason);
// a transient failure (the service or its provider unreachable, a timeout
// with the outcome unknown) wraps ErrUnavailable or
// context.DeadlineExceeded, and is retried with the same key; anything else
// is permanent.
type Payments interface {
	// Authorize holds the amount on the order's payment method.
	Authorize(ctx context.Context, p PaymentRequest) (PaymentResult, error)
	// Capture takes the authorized amount.
	Capture(ctx context.Context, orderID string, amount Money) error
	// Void gives up the order's authorization. Voiding an order never
	// authorized succeeds, so a saga whose Authorize outcome is unknown can
	// void it.
	Void(ctx context.Context, orderID string) error
	// Refund gives back the captured amount.
	Refund(ctx context.Context, orderID string, amount Money) error
}
