package domain

import "context"

//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . NotificationStore,Tx,Sender

// NotificationStore reads the notifications kept for users.
type NotificationStore interface {
	// ListByUser returns up to limit notifications of userID whose id is
	// below beforeID ("" for the newest), in descending id order: newest
	// first, since ids are UUIDv7.
	ListByUser(ctx context.Context, userID, beforeID string, limit int) ([]Notification, error)
}

// Tx is the storage work done inside the transaction of the event being
// handled. The event consumer owns that transaction and records the event
// in its inbox in it, so a notification commits if and only if its event is
// marked handled.
type Tx interface {
	// CreateNotification stores n unless a notification for n.EventID
	// exists, and reports whether it stored it. A concurrent transaction
	// storing the same event id is waited for, so exactly one stores it.
	CreateNotification(ctx context.Context, n Notification) (bool, error)
}

// Sender delivers a recorded notification to its user: a log line, a
// webhook, an email or push gateway. It may be called more than once for a
// notification (delivery is at least once), so a receiver that must not
// show it twice dedupes by Notification.EventID.
type Sender interface {
	Send(ctx context.Context, n Notification) error
}
