// Package domain is the user service's model and rules: accounts, roles,
// registration, login and who may read which account. It declares the ports
// it needs (UserStore, PasswordHasher, TokenIssuer) and imports no transport
// and no storage.
package domain

import (
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Error kinds of the user domain; wrap them with context.
var (
	ErrNotFound      = errkind.NotFound
	ErrAlreadyExists = errkind.AlreadyExists
	// ErrInvalidCredentials is the one answer to a failed login, whether the
	// email is unknown or the password wrong, so it reveals neither.
	ErrInvalidCredentials error = credentialsError{}
)

type credentialsError struct{}

func (credentialsError) Error() string        { return "invalid email or password" }
func (credentialsError) Is(target error) bool { return target == errkind.Unauthenticated }

// Role is what a caller may do.
type Role string

// Roles. People are customers or admins. RoleService is another Slipway
// service: a service account the user service ensures from its
// configuration (EnsureServiceAccount), never one that registers.
const (
	RoleCustomer Role = "customer"
	RoleAdmin    Role = "admin"
	RoleService  Role = "service"
)

// ServiceAccountDomain is the email domain of service accounts: the account
// of service "order" is order@service.slipway.local. Registration refuses
// it, so no customer can take a service's address.
const ServiceAccountDomain = "service.slipway.local"

// ServiceAccountEmail is the email of the service account name.
func ServiceAccountEmail(name string) string { return name + "@" + ServiceAccountDomain }

// User is an account.
type User struct {
	ID          string // a UUID
	Email       string // lower case, unique
	DisplayName string
	Role        Role
	// PasswordHash is the PHC string of the password; it never leaves the service.
	PasswordHash string
	CreatedAt    time.Time
}

// Caller is the verified identity behind a request.
type Caller struct {
	UserID string // the account id (a service account's too)
	Role   Role
}

// Registration is what a new customer supplies.
type Registration struct {
	Email       string
	Password    string
	DisplayName string
	// Client is where the request came from (see Credentials.Client).
	Client string
}

// Credentials are what a login supplies.
type Credentials struct {
	Email    string
	Password string
	// Client is the client's address as the limits key it (an IPv4
	// address, an IPv6 /64); "" is one shared unknown client.
	Client string
}

// Session is the outcome of a successful login.
type Session struct {
	Token Token
	User  User
}
