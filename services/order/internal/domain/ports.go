package domain

import (
	"context"
	"time"
)

// Only StockReserver, the boundary to another service, is mocked; tests run
// the real OrderStore on SQLite.
//
//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . StockReserver

// OrderStore keeps orders. Every change is stored together with its event
// (a transactional outbox), so an event is published if and only if its
// change committed.
type OrderStore interface {
	// Place stores o, its items and e in one transaction. When an order with
	// o.ID, or of o.UserID with o.IdempotencyKey, is already stored (or a
	// concurrent transaction stores it first) it stores nothing and returns
	// an error wrapping ErrAlreadyExists.
	Place(ctx context.Context, o Order, e OrderPlaced) error
	// Get returns the order or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Order, error)
	// ByKey returns the order userID placed with the idempotency key, or an
	// error wrapping ErrNotFound.
	ByKey(ctx context.Context, userID, key string) (Order, error)
	// ListByUser returns up to limit orders of userID, newest first (by
	// CreatedAt, then ID, both descending), that come after the cursor; the
	// zero Cursor starts at the newest.
	ListByUser(ctx context.Context, userID string, after Cursor, limit int) ([]Order, error)
	// Cancel moves the PLACED order e.Order.ID to CANCELLED (with
	// e.Order's reason and update time) and stores e, in one transaction.
	// It reports false, and stores nothing, when the order is not PLACED
	// (or not there), so of two concurrent cancels only one succeeds.
	Cancel(ctx context.Context, e OrderCancelled) (bool, error)
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
