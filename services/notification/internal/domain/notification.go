// Package domain is the notification service's model and rules: which order
// events become which notifications, with what words, stored once per event
// and read back only by their owner. It declares the ports it needs
// (NotificationStore, Tx, Sender) and imports no transport and no storage:
// the orderevents and rpc packages translate into calls here, the store
// package implements the storage ports and the sender package the Sender.
package domain

import (
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Error kinds of the notification domain; wrap them with context.
var (
	ErrInvalid          = errkind.Invalid
	ErrUnauthenticated  = errkind.Unauthenticated
	ErrPermissionDenied = errkind.PermissionDenied
	// ErrAlreadyRecorded says an event already has its notification. The
	// event consumer's inbox normally stops a redelivery before the domain
	// sees it; this is the second line of defence, for an event published
	// again under another message id.
	ErrAlreadyRecorded = errkind.AlreadyExists
)

// Kind says which event produced a notification.
type Kind string

// Kinds of notification, one per order event the service consumes.
const (
	KindOrderPlaced    Kind = "ORDER_PLACED"
	KindOrderCancelled Kind = "ORDER_CANCELLED"
)

// Notification is one message sent to a user about one of their orders.
type Notification struct {
	ID      string // a UUIDv7, so ids sort by creation time
	UserID  string
	OrderID string
	Kind    Kind
	Title   string
	Body    string
	// EventID is the id of the event that produced it; unique.
	EventID   string
	CreatedAt time.Time
}

// Money is an amount in the minor unit of its currency (cents for USD).
type Money struct {
	AmountMinor int64
	Currency    string // ISO 4217, e.g. "USD"
}

// OrderItem is a line of an order as the event reports it.
type OrderItem struct {
	ProductID string
	Name      string
	Quantity  int64
}

// OrderPlaced is the event of an order stored with status PLACED.
type OrderPlaced struct {
	EventID    string
	OrderID    string
	UserID     string
	Items      []OrderItem
	Total      *Money // nil when the event carries no total
	OccurredAt time.Time
}

// OrderCancelled is the event of a PLACED order cancelled and its stock
// released.
type OrderCancelled struct {
	EventID    string
	OrderID    string
	UserID     string
	Items      []OrderItem
	Reason     string
	OccurredAt time.Time
}

// RoleService is the role of another Slipway service calling with its own
// token: it is no user and has no notifications, but it may act for one.
const RoleService = "service"

// Actor is whom an operation acts for, as the edge verified it.
type Actor struct {
	// UserID is the user acted for: the token's subject, or for a service
	// the end user it named as acting on behalf of.
	UserID string
	// Role is the token's role.
	Role string
	// OnBehalf is set when a service acts for UserID.
	OnBehalf bool
}

// Page is one page of a user's notifications, newest first.
type Page struct {
	Notifications []Notification
	// NextPageToken is "" on the last page.
	NextPageToken string
}
