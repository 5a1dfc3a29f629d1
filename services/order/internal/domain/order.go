// Package domain holds the order service's types, its rules and the ports it
// needs: OrderStore (its own storage), StockReserver (the inventory service)
// and Payments (the payment service). It imports no transport and no
// storage: the rpc package translates requests into calls here, the store
// package implements OrderStore and the stock package StockReserver.
package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Error kinds the order service returns, named over the platform's kinds so
// the edge maps them to gRPC codes and HTTP statuses once.
var (
	ErrNotFound           = errkind.NotFound
	ErrAlreadyExists      = errkind.AlreadyExists
	ErrFailedPrecondition = errkind.FailedPrecondition
	ErrPermissionDenied   = errkind.PermissionDenied
	ErrUnauthenticated    = errkind.Unauthenticated
	ErrUnavailable        = errkind.Unavailable
)

// Role is what the caller's token lets it do.
type Role string

// Roles that reach the order service. Orders belong to shop accounts, so a
// service token (RoleService) acts on none.
const (
	RoleCustomer Role = "customer"
	RoleAdmin    Role = "admin"
	RoleService  Role = "service"
)

// Actor is the authenticated caller of an operation, as the edge verified
// it from the token. It never comes from a request body.
type Actor struct {
	Subject string // the account id
	Role    Role
}

// Money is an amount in the minor unit of its currency (cents for USD).
type Money struct {
	AmountMinor int64
	Currency    string // ISO 4217, e.g. "USD"
}

// Status is where an order is in its life.
type Status string

// Order statuses. An order is created PENDING (stock reserving, payment in
// flight), becomes PLACED once its payment is authorized, or FAILED when
// the stock or the payment cannot be had; only a PLACED order can be
// CANCELLED. FAILED and CANCELLED are final.
const (
	StatusPending   Status = "PENDING"
	StatusPlaced    Status = "PLACED"
	StatusFailed    Status = "FAILED"
	StatusCancelled Status = "CANCELLED"
)

// PaymentState is where an order's payment is.
type PaymentState string

// Payment states. NONE until an authorization succeeds or is declined;
// AUTHORIZED when the order is placed, CAPTURED right after; VOIDED when an
// authorization (or one whose outcome was unknown) is given up, REFUNDED
// when a captured payment is given back.
const (
	PaymentNone       PaymentState = "NONE"
	PaymentAuthorized PaymentState = "AUTHORIZED"
	PaymentCaptured   PaymentState = "CAPTURED"
	PaymentVoided     PaymentState = "VOIDED"
	PaymentRefunded   PaymentState = "REFUNDED"
	PaymentDeclined   PaymentState = "DECLINED"
)

// Item is what a client asks for: a quantity of one product.
type Item struct {
	ProductID string
	Quantity  int64
}

// Price is what inventory says one product costs, and its name at that time.
type Price struct {
	Name string
	Unit Money
}

// OrderItem is one line of a placed order, priced by inventory when the
// order was placed.
type OrderItem struct {
	ProductID string
	Name      string
	Quantity  int64
	UnitPrice Money
	LineTotal Money
}

// Order is a user's order.
type Order struct {
	ID     string // derived from (UserID, IdempotencyKey), see OrderID
	UserID string
	Status Status
	Items  []OrderItem // one line per product, sorted by product id
	Total  Money
	// IdempotencyKey is the client's key for the request that placed it.
	IdempotencyKey string
	// Fingerprint identifies the items that request asked for (see
	// Fingerprint), so a retry can be told apart from a different request
	// under the same key.
	Fingerprint string
	// Requested is what the request asked for, merged per product and
	// sorted: what a resumed saga reserves.
	Requested []Item
	// PaymentMethod is the payment method the request named; "" is the
	// payment service's default.
	PaymentMethod string
	PaymentState  PaymentState
	// PaymentID is the payment service's id of the authorization.
	PaymentID string
	// FailureReason says why a FAILED order failed.
	FailureReason string
	CancelReason  string
	// CancelRequested is set when a cancel of the PLACED order has begun
	// (its payment is being voided or refunded); the order is CANCELLED
	// once that is done.
	CancelRequested bool
	// StockReleased is set once the reservation of a FAILED order was
	// released.
	StockReleased bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Priced reports whether the order's lines and total are known, that is
// whether its stock was reserved and priced.
func (o Order) Priced() bool { return o.Total.Currency != "" }

// OrderPlaced is the event stored with a new order, in the same transaction.
type OrderPlaced struct {
	EventID    string
	Order      Order
	OccurredAt time.Time
}

// OrderCancelled is the event stored with a cancellation, in the same
// transaction. Order is the order as cancelled.
type OrderCancelled struct {
	EventID    string
	Order      Order
	Reason     string
	OccurredAt time.Time
}

// OrderFailed is the event stored with an order's failure, in the same
// transaction. Order is the order as failed (its lines are empty when it
// failed before its stock was priced).
type OrderFailed struct {
	EventID    string
	Order      Order
	Reason     string
	OccurredAt time.Time
}

// orderNamespace is the UUIDv5 namespace of order ids. Changing it changes
// the id every (user, key) maps to, so it is fixed for the life of the shop.
var orderNamespace = uuid.MustParse("0c8e6b0e-5f0a-4f5c-9d55-3e1b7f0a9a21")

// OrderID is the id of the order that user places with idempotency key: a
// UUIDv5 of both, so a retry and a concurrent duplicate of one request name
// the same order, and so hold the same reservation in inventory.
func OrderID(userID, key string) string {
	// The NUL separator keeps ("ab", "c") and ("a", "bc") apart.
	return uuid.NewSHA1(orderNamespace, []byte(userID+"\x00"+key)).String()
}

// newEventID is a fresh, random event id. It is made once per change,
// outside the transaction, so a transaction the store retries stores the
// same event; random rather than derived, so that no two environments
// sharing a broker ever publish the same Nats-Msg-Id.
func newEventID() string { return uuid.NewString() }

// Fingerprint is the hex SHA-256 of the canonical form of items: merged per
// product and sorted by product id, as inventory compares reservations. An
// empty list has the fingerprint "".
func Fingerprint(items []Item) string {
	merged, _ := mergeItems(items)
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

// mergeItems returns items with the quantities of repeated products added
// up, sorted by product id (as inventory merges a reservation's lines), and
// for each merged line the index of its product's first line in items.
func mergeItems(items []Item) (merged []Item, firstLine map[string]int) {
	firstLine = make(map[string]int, len(items))
	byID := make(map[string]int64, len(items))
	for i, it := range items {
		if _, seen := firstLine[it.ProductID]; !seen {
			firstLine[it.ProductID] = i
		}
		byID[it.ProductID] += it.Quantity
	}
	merged = make([]Item, 0, len(byID))
	for id, q := range byID {
		merged = append(merged, Item{ProductID: id, Quantity: q})
	}
	slices.SortFunc(merged, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	return merged, firstLine
}
