package domain

import (
	"context"
	"time"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
)

//go:generate go tool mockgen -destination=mock/ports.go -package=mock -typed . PaymentStore,Provider

// PaymentStore is the storage the payment service needs.
type PaymentStore interface {
	// Create stores payment; an order that has a payment already is an
	// error wrapping ErrAlreadyExists.
	Create(ctx context.Context, payment Payment) error
	// VoidUnpaid records that orderID's payment was voided before the
	// order had one; recording it twice is no error.
	VoidUnpaid(ctx context.Context, orderID string, at time.Time) error
	// VoidedUnpaid reports whether VoidUnpaid recorded orderID.
	VoidedUnpaid(ctx context.Context, orderID string) (bool, error)
	// Get returns the payment id or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Payment, error)
	// GetByOrder returns the payment of orderID or an error wrapping
	// ErrNotFound.
	GetByOrder(ctx context.Context, orderID string) (Payment, error)
	// Transition stores payment's State, ProviderRef, DeclineCode,
	// DeclineMessage and UpdatedAt if the stored payment is still in from;
	// else it changes nothing and returns an error wrapping ErrConflict.
	// The guard makes each state change happen at most once.
	Transition(ctx context.Context, payment Payment, from State) error
	// ListByUser returns up to limit payments of userID with an id less
	// than beforeID ("" for the first page), newest first.
	ListByUser(ctx context.Context, userID, beforeID string, limit int) ([]Payment, error)
}

// Provider is the payment service provider, as package provider defines
// it (its error kinds included); declared here so the domain's tests can
// script it.
type Provider interface {
	provider.Provider
}
