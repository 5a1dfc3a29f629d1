// Package domain holds the payment service's types, its rules and the
// ports it needs from storage. It imports no transport and no storage: the
// rpc package translates requests into calls here, and the store package
// implements PaymentStore.
package domain

import (
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Error kinds the payment service returns, named over the platform's kinds
// so the edge maps them to gRPC codes and HTTP statuses once.
var (
	ErrNotFound         = errkind.NotFound
	ErrAlreadyExists    = errkind.AlreadyExists
	ErrInvalid          = errkind.Invalid
	ErrUnauthenticated  = errkind.Unauthenticated
	ErrPermissionDenied = errkind.PermissionDenied
)

// Payment is one payment, owned by the user who created it.
type Payment struct {
	ID        string // a UUIDv7: ids sort in creation order
	OwnerID   string // the subject of the token that created it
	Name      string
	CreatedAt time.Time
}

// Role is the role of a caller's token.
type Role string

// Roles of the callers: customers and admins own payments; a service
// account does not.
const (
	RoleCustomer Role = "customer"
	RoleAdmin    Role = "admin"
	RoleService  Role = "service"
)

// Actor is the authenticated caller of an operation, as the edge saw it.
type Actor struct {
	Subject string
	Role    Role
}
