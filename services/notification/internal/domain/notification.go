// Package domain is the notification service's model and rules: which order
// events become which notifications, with what words, stored once per event
// and read back only by their owner, with the delivery of each through the
// external channel (a webhook) queued beside it. It declares the ports it
// needs (NotificationStore, Tx, DeliveryQueue, Sender) and imports no
// transport and no storage: the orderevents and rpc packages translate into
// calls here, the store package implements the storage ports, the sender
// package the Sender, and the delivery package drains the DeliveryQueue.
package domain

import (
	"errors"
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
	// ErrUndeliverable marks a send that retrying cannot fix: the channel
	// refused the notification itself (an answer such as 400 or 404). Its
	// delivery fails at once rather than after the last attempt.
	ErrUndeliverable = errors.New("undeliverable")
)

// Channel is the external channel notifications go out through, besides
// the in-app list that always has them.
type Channel string

// Channels.
const (
	// ChannelNone: in-app only; nothing is queued for delivery.
	ChannelNone Channel = ""
	// ChannelWebhook: each notification is queued for the webhook.
	ChannelWebhook Channel = "webhook"
)

// DeliveryState says how far a notification's delivery through the
// external channel got. The notification itself is stored, and listed for
// its owner, whatever its delivery does.
type DeliveryState string

// Delivery states.
const (
	// DeliveryNone: no external channel was configured when it was stored.
	DeliveryNone DeliveryState = "NONE"
	// DeliveryPending: waiting for its first attempt or for a retry.
	DeliveryPending DeliveryState = "PENDING"
	// DeliveryDelivered: the channel accepted it.
	DeliveryDelivered DeliveryState = "DELIVERED"
	// DeliveryFailed: given up on, after the last attempt or because the
	// channel refused it (ErrUndeliverable); the dead letter keeps the reason.
	DeliveryFailed DeliveryState = "FAILED"
)

// Kind says which event produced a notification.
type Kind string

// Kinds of notification, one per order event the service consumes.
const (
	KindOrderPlaced    Kind = "ORDER_PLACED"
	KindOrderCancelled Kind = "ORDER_CANCELLED"
	KindOrderFailed    Kind = "ORDER_FAILED"
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
	// Delivery is how far its delivery through the external channel got.
	Delivery DeliveryState
}

// Delivery is a notification claimed from the delivery queue for one
// attempt.
type Delivery struct {
	Notification Notification
	// Attempt is the number of this attempt: 1 for the first.
	Attempt int
	// TraceContext is the W3C trace context of the event that produced the
	// notification, so its delivery continues that trace; nil when none.
	TraceContext map[string]string
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

// OrderFailed is the event of an order that failed before it was placed:
// its stock could not be reserved, its payment was declined or failed, or
// its payment deadline passed. Items and Total are empty when it failed
// before it was priced.
type OrderFailed struct {
	EventID    string
	OrderID    string
	UserID     string
	Items      []OrderItem
	Total      *Money // nil when the event carries no total
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
