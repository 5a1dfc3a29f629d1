// Package auth issues and verifies the access tokens of Slipway: EdDSA
// (Ed25519) JWTs signed by the user service, published as a JWKS, verified by
// every service, and enforced per RPC by a Policy.
package auth

import (
	"context"
	"time"
)

// DefaultIssuer is the "iss" claim the user service signs with unless
// configured otherwise; verifiers expect the same value.
const DefaultIssuer = "slipway"

// Role is what the bearer of a token may do.
type Role string

// Roles a token can carry.
const (
	// RoleCustomer is a shop customer: it acts on its own data only.
	RoleCustomer Role = "customer"
	// RoleAdmin is an operator of the shop.
	RoleAdmin Role = "admin"
	// RoleService is another Slipway service calling on its own behalf.
	RoleService Role = "service"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleCustomer, RoleAdmin, RoleService:
		return true
	}
	return false
}

// Claims is the verified identity a token carries.
type Claims struct {
	// Subject is the id of the account (or the name of the service).
	Subject string
	Email   string
	Role    Role
	// ExpiresAt is when the token stops being accepted; set by Sign and Verify.
	ExpiresAt time.Time
	// OnBehalfOf is the end user a service caller acts for, from the
	// OnBehalfOfHeader. Authenticate sets it only for a service that the
	// method's rule names, calling over native gRPC; it is never part of a
	// token.
	OnBehalfOf string
}

// OnBehalfOfHeader is the metadata key in which a service names the end user
// it calls for. Authenticate trusts it only from a service the method's rule
// names (Rule.For), over native gRPC.
const OnBehalfOfHeader = "x-slipway-on-behalf-of"

// Actor returns whom a call acts for: the end user a service named in
// OnBehalfOf, else the caller itself.
func Actor(c Claims) string {
	if c.OnBehalfOf != "" {
		return c.OnBehalfOf
	}
	return c.Subject
}

type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the claims the auth hook stored in ctx, if any.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}
