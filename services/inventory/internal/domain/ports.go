package domain

import (
	"context"
	"time"
)

//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . Store,Tx

// Store is the storage the inventory needs. Reads of the catalog run on
// their own; every change runs in one transaction through InTx.
type Store interface {
	// ListProducts returns up to limit products with an id greater than
	// afterID ("" for the first page), in id order.
	ListProducts(ctx context.Context, afterID string, limit int) ([]Product, error)
	// GetProduct returns the product or an error wrapping ErrNotFound.
	GetProduct(ctx context.Context, id string) (Product, error)
	// ExpiredReservations returns the order ids of up to limit RESERVED
	// reservations whose expiry is before now, with an order id greater than
	// afterOrderID ("" for the first batch), in order id order.
	ExpiredReservations(ctx context.Context, now time.Time, afterOrderID string, limit int) ([]string, error)
	// InTx runs fn in one transaction: committed when fn returns nil, rolled
	// back otherwise. fn may run more than once when the database asks for a
	// retry (serialization failure, deadlock, busy), so it must have no effect
	// outside tx.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Tx is the work a transaction can do. Stock changes are guarded in the
// statement itself, so concurrent transactions can never oversell.
type Tx interface {
	// GetProduct returns the product or an error wrapping ErrNotFound.
	GetProduct(ctx context.Context, id string) (Product, error)
	// TakeStock removes quantity units of the product if it has that many.
	// It reports false, and changes nothing, when the product has fewer
	// units or does not exist.
	TakeStock(ctx context.Context, productID string, quantity int64, at time.Time) (bool, error)
	// PutStock adds quantity units to the product. It reports false when the
	// product does not exist.
	PutStock(ctx context.Context, productID string, quantity int64, at time.Time) (bool, error)
	// RecordAdjustment appends a to the stock audit log.
	RecordAdjustment(ctx context.Context, a StockAdjustment) error

	// ReserveItems stores r as CreateReservation does and takes the stock of
	// each of r.Items, keeping on the line the name and unit price its
	// product had when its stock was taken, read by the statement that takes
	// it. It reports claimed false, changing nothing, when a reservation for
	// r.OrderID exists. A product that is unknown or has too few units is
	// left out of taken and loses nothing; the caller then rolls back.
	ReserveItems(ctx context.Context, r Reservation) (claimed bool, taken []Item, err error)

	// CreateReservation stores r (with its items and fingerprint) unless a
	// reservation for r.OrderID exists; it reports whether it stored r. A
	// concurrent transaction creating the same order id is waited for, so
	// exactly one of them creates it.
	CreateReservation(ctx context.Context, r Reservation) (bool, error)
	// GetReservation returns the reservation of the order or an error
	// wrapping ErrNotFound.
	GetReservation(ctx context.Context, orderID string) (Reservation, error)
	// MarkReleased moves a RESERVED or COMMITTED reservation to RELEASED and
	// reports whether it did; it reports false for a RELEASED one, so of two
	// concurrent releases only one returns the stock.
	MarkReleased(ctx context.Context, orderID string, at time.Time) (bool, error)
	// MarkCommitted moves a RESERVED reservation to COMMITTED, clearing its
	// expiry, and reports whether it did; it reports false for any other
	// state, so a commit and a concurrent expiry or release cannot both win.
	MarkCommitted(ctx context.Context, orderID string, at time.Time) (bool, error)
	// MarkExpired moves a RESERVED reservation whose expiry is before now to
	// RELEASED and reports whether it did. The guard is in the statement, so
	// of two sweepers (or a sweeper and a commit) only one wins.
	MarkExpired(ctx context.Context, orderID string, now time.Time) (bool, error)
}
