// Package domain holds the inventory's types, its rules and the ports it
// needs from storage. It imports no transport and no storage: the rpc
// package translates requests into calls here, and the store package
// implements Store.
package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Error kinds the inventory returns, named over the platform's kinds so the
// edge maps them to gRPC codes and HTTP statuses once.
var (
	ErrNotFound           = errkind.NotFound
	ErrInvalid            = errkind.Invalid
	ErrFailedPrecondition = errkind.FailedPrecondition
	ErrPermissionDenied   = errkind.PermissionDenied
)

// Money is an amount in the minor unit of its currency (cents for USD).
type Money struct {
	AmountMinor int64
	Currency    string // ISO 4217, e.g. "USD"
}

// Product is one catalog entry. Stock is the units on hand, not counting
// units already held by reservations.
type Product struct {
	ID          string // a slug, e.g. "espresso-beans-1kg"
	Name        string
	Description string
	Price       Money
	Stock       int64
	UpdatedAt   time.Time
}

// ReservationStatus is where a reservation is in its life.
type ReservationStatus string

// Reservation statuses. A reservation is created RESERVED, holding its stock
// until it expires. The order's OrderPlaced commits it (COMMITTED: the stock
// stays taken and never expires); a release (the order cancelled or
// compensated) or its expiry makes it RELEASED and returns the stock. A
// Release for an order never reserved creates a RELEASED tombstone.
//
//	RESERVED --commit--> COMMITTED --release--> RELEASED
//	RESERVED --release or expiry--------------> RELEASED
const (
	StatusReserved  ReservationStatus = "RESERVED"
	StatusCommitted ReservationStatus = "COMMITTED"
	StatusReleased  ReservationStatus = "RELEASED"
)

// Item is a quantity of one product. On a reserved line, Name and
// UnitPrice are what the product was called and cost when the reservation
// took its stock: what the order charges. They are zero in a request, and
// on lines reserved before reservations kept prices.
type Item struct {
	ProductID string
	Quantity  int64
	Name      string
	UnitPrice Money
}

// Reservation is the stock held for one order, keyed by the order id.
type Reservation struct {
	OrderID string
	Items   []Item // one line per product, sorted by product id
	Status  ReservationStatus
	// ExpiresAt is when a RESERVED reservation that was never committed
	// gives its stock back. It is zero for one that never expires: a
	// commit clears it, and reservations made before expiry existed have none.
	ExpiresAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Fingerprint identifies r's items independently of their order, so a
// repeated Reserve can be told apart from a different one under the same
// order id.
func (r Reservation) Fingerprint() string { return Fingerprint(r.Items) }

// Fingerprint is the hex SHA-256 of the canonical form of items: merged per
// product and sorted by product id. An empty list has the fingerprint "".
func Fingerprint(items []Item) string {
	merged := mergeItems(items)
	if len(merged) == 0 {
		return ""
	}
	var b strings.Builder
	for _, it := range merged {
		fmt.Fprintf(&b, "%s\x00%d\n", it.ProductID, it.Quantity)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// mergeItems returns items with the quantities of repeated products added up,
// sorted by product id. The sort also fixes the order in which Reserve locks
// product rows, so two reservations can never deadlock on each other.
func mergeItems(items []Item) []Item {
	byID := make(map[string]int64, len(items))
	for _, it := range items {
		byID[it.ProductID] += it.Quantity
	}
	merged := make([]Item, 0, len(byID))
	for id, q := range byID {
		merged = append(merged, Item{ProductID: id, Quantity: q})
	}
	slices.SortFunc(merged, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	return merged
}

// ErrReleased is the error of committing a reservation that is already
// released: its stock went back because the order was cancelled, or because
// the reservation expired before the order's OrderPlaced arrived (events
// delayed beyond the TTL). errors.Is(err, ErrFailedPrecondition) is true.
var ErrReleased error = releasedError{}

type releasedError struct{}

func (releasedError) Error() string        { return "reservation already released" }
func (releasedError) Is(target error) bool { return target == ErrFailedPrecondition }

// InsufficientStockError is the FailedPrecondition a Reserve or AdjustStock
// gets when a product has fewer units than it asks to take.
type InsufficientStockError struct {
	ProductID string
	Requested int64
	Available int64
}

// Error implements error.
func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("insufficient stock for product %q: requested %d, available %d",
		e.ProductID, e.Requested, e.Available)
}

// Is makes errors.Is(err, ErrFailedPrecondition) true.
func (e *InsufficientStockError) Is(target error) bool { return target == ErrFailedPrecondition }

// RoleAdmin is the role of a caller allowed to adjust stock.
const RoleAdmin = "admin"

// Actor is the authenticated caller of an operation, as the edge saw it.
type Actor struct {
	Subject string
	Role    string
}

// StockAdjustment is an audit record of an admin's change to a product's stock.
type StockAdjustment struct {
	ProductID string
	Delta     int64
	Reason    string
	Actor     string // subject of the admin who made the change
	At        time.Time
}
