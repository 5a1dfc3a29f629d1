package domain

import "context"

//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . PaymentStore

// PaymentStore is the storage the payment service needs.
type PaymentStore interface {
	// Create stores payment; an id that is taken is an error wrapping
	// ErrAlreadyExists.
	Create(ctx context.Context, payment Payment) error
	// Get returns the payment id or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Payment, error)
	// ListByOwner returns up to limit payments of ownerID with an id
	// greater than afterID ("" for the first page), in id order.
	ListByOwner(ctx context.Context, ownerID, afterID string, limit int) ([]Payment, error)
}
