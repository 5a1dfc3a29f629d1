package domain

import (
	"context"
	"time"
)

//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . NotificationStore,Tx,DeliveryQueue,Sender

// NotificationStore reads the notifications kept for users.
type NotificationStore interface {
	// ListByUser returns up to limit notifications of userID whose id is
	// below beforeID ("" for the newest), in descending id order: newest
	// first, since ids are UUIDv7; each with its delivery state.
	ListByUser(ctx context.Context, userID, beforeID string, limit int) ([]Notification, error)
}

// Tx is the storage work done inside the transaction of the event being
// handled. The event consumer owns that transaction and records the event
// in its inbox in it, so a notification commits if and only if its event is
// marked handled, and its delivery is queued if and only if it is stored:
// whatever the channel does later, the notification is there.
type Tx interface {
	// CreateNotification stores n unless a notification for n.EventID
	// exists, and reports whether it stored it. A concurrent transaction
	// storing the same event id is waited for, so exactly one stores it.
	CreateNotification(ctx context.Context, n Notification) (bool, error)
	// EnqueueDelivery queues n, just created, for delivery through the
	// external channel, due at once.
	EnqueueDelivery(ctx context.Context, n Notification) error
}

// DeliveryQueue is the delivery outbox: the notifications still to deliver
// through the external channel, each with its own schedule, so that one
// that keeps failing holds back no other. State lives in the database, so
// a restart loses nothing.
type DeliveryQueue interface {
	// ClaimDue takes up to limit pending deliveries due at or before now,
	// the longest due first, counts the attempt it is about to make, and
	// hides each from other claims until leaseUntil: replicas never claim
	// one at the same time, and the claims of a worker that died come back
	// when their lease ends.
	ClaimDue(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Delivery, error)
	// MarkDelivered records that attempt d.Attempt delivered d.
	MarkDelivered(ctx context.Context, d Delivery, at time.Time) error
	// MarkRetry schedules d's next attempt at next, keeping reason (already
	// redacted) as its last error.
	MarkRetry(ctx context.Context, d Delivery, next time.Time, reason string) error
	// MarkFailed gives up on d: a dead letter, kept with reason (already
	// redacted) for an operator.
	MarkFailed(ctx context.Context, d Delivery, at time.Time, reason string) error
	// Counts returns how many deliveries are pending and how many failed.
	Counts(ctx context.Context) (pending, failed int64, err error)
}

// Sender makes one attempt to deliver a recorded notification through the
// external channel: a webhook, an email or push gateway. The delivery
// worker retries; a notification may be sent more than once (delivery is at
// least once), so a receiver that must not show it twice dedupes by
// Notification.EventID. An error wrapping ErrUndeliverable is not retried;
// one with a RetryAfter() time.Duration method says when to try again.
type Sender interface {
	Send(ctx context.Context, n Notification) error
}
