package domain

import (
	"context"
	"time"
)

//go:generate go tool mockgen -destination=mock/ports.go -package=mock . UserStore,PasswordHasher,TokenIssuer

// UserStore keeps accounts.
type UserStore interface {
	// Create stores u; an account with the same email is ErrAlreadyExists.
	Create(ctx context.Context, u User) error
	// ByID returns the account or an error wrapping ErrNotFound.
	ByID(ctx context.Context, id string) (User, error)
	// ByEmail returns the account with the (lower case) email or an error
	// wrapping ErrNotFound.
	ByEmail(ctx context.Context, email string) (User, error)
	// Update replaces the display name, role and password hash of the
	// account u.ID, or returns an error wrapping ErrNotFound.
	Update(ctx context.Context, u User) error
}

// UserCache keeps accounts read by id for a while, without their password
// hashes. Get answers from the cache or calls load and caches what it
// returns; Invalidate, called after a change to the account has committed,
// makes the next Get call load again. A cache that cannot answer makes Get
// call load, and an Invalidate it cannot take leaves the entry until its
// TTL (the implementation reports that itself): the cache costs speed,
// never a failed request.
type UserCache interface {
	Get(ctx context.Context, id string, load func(context.Context) (User, error)) (User, error)
	Invalidate(ctx context.Context, id string)
}

// PasswordHasher turns passwords into slow, salted hashes and checks them.
type PasswordHasher interface {
	// Hash returns the encoded hash of password.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches encoded, in constant time.
	Verify(ctx context.Context, password, encoded string) (bool, error)
	// NeedsRehash reports whether encoded was made with weaker or other
	// parameters than Hash uses now.
	NeedsRehash(encoded string) bool
}

// Token is a signed access token.
type Token struct {
	Value     string
	ExpiresAt time.Time
}

// TokenIssuer signs access tokens for accounts.
type TokenIssuer interface {
	Issue(ctx context.Context, u User) (Token, error)
}
