package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Rule says who may call a method.
type Rule int

// Rules. The zero value is Authenticated, so a Rule nobody set is never Public.
const (
	// Authenticated admits any valid token; methods missing from a Policy get it.
	Authenticated Rule = iota
	// Public admits anyone; a valid token, if sent, still reaches the handler.
	Public
	// Admin admits tokens with the admin role.
	Admin
	// Internal admits admins and other services.
	Internal
)

// String returns the rule's name.
func (r Rule) String() string {
	switch r {
	case Authenticated:
		return "authenticated"
	case Public:
		return "public"
	case Admin:
		return "admin"
	case Internal:
		return "internal"
	}
	return fmt.Sprintf("Rule(%d)", int(r))
}

// allows reports whether a verified caller with role may call under r.
func (r Rule) allows(role Role) bool {
	switch r {
	case Public, Authenticated:
		return true
	case Admin:
		return role == RoleAdmin
	case Internal:
		return role == RoleAdmin || role == RoleService
	}
	return false
}

// Policy maps a full gRPC method name ("/slipway.user.v1.UserService/Login",
// the generated *_FullMethodName constants) to its Rule. Methods missing from
// it need Authenticated.
type Policy map[string]Rule

// Rule returns the rule for fullMethod. Health checks and reflection are
// always public: probes and tools carry no token.
func (p Policy) Rule(fullMethod string) Rule {
	if strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.") {
		return Public
	}
	if r, ok := p[fullMethod]; ok {
		return r
	}
	return Authenticated
}

// Authenticate is the hook the server chain calls for every RPC on every
// protocol. It reads "authorization: Bearer <jwt>" from the incoming
// metadata, verifies it with v, applies p's rule for fullMethod and returns
// ctx carrying the claims. A caller with RoleService may name the end user it
// acts for in OnBehalfOfHeader, which becomes Claims.OnBehalfOf; from any
// other caller the header is ignored, so a customer cannot act for someone
// else. Its errors are gRPC statuses: Unauthenticated for a missing or bad
// token, PermissionDenied for a role the rule refuses, and Unavailable when
// the keys to verify with cannot be fetched.
func Authenticate(v Verifier, p Policy) func(ctx context.Context, fullMethod string) (context.Context, error) {
	return func(ctx context.Context, fullMethod string) (context.Context, error) {
		rule := p.Rule(fullMethod)
		token, found := bearer(ctx)
		if rule == Public {
			// A token on a public method is optional: use it when it verifies,
			// and never fail the call because of a stale one.
			if found {
				if c, err := v.Verify(ctx, token); err == nil {
					ctx = WithClaims(ctx, onBehalfOf(ctx, c))
				}
			}
			return ctx, nil
		}
		if !found {
			return ctx, status.Error(codes.Unauthenticated, "missing bearer token")
		}
		c, err := v.Verify(ctx, token)
		if err != nil {
			if errors.Is(err, errkind.Unavailable) {
				return ctx, status.Error(codes.Unavailable, "token verification keys unavailable")
			}
			return ctx, status.Error(codes.Unauthenticated, "invalid token")
		}
		if !rule.allows(c.Role) {
			return ctx, status.Errorf(codes.PermissionDenied, "%s requires the %s rule; role %q is not allowed", fullMethod, rule, c.Role)
		}
		return WithClaims(ctx, onBehalfOf(ctx, c)), nil
	}
}

// onBehalfOf fills c.OnBehalfOf from the incoming metadata when c is a
// service; any other caller's header is dropped.
func onBehalfOf(ctx context.Context, c Claims) Claims {
	c.OnBehalfOf = ""
	if c.Role != RoleService {
		return c
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, value := range md.Get(OnBehalfOfHeader) {
		if value = strings.TrimSpace(value); value != "" {
			c.OnBehalfOf = value
			break
		}
	}
	return c
}

// bearer returns the token of the first "authorization: Bearer" entry.
func bearer(ctx context.Context) (string, bool) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return "", false
	}
	for _, value := range md.Get("authorization") {
		scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			if token = strings.TrimSpace(token); token != "" {
				return token, true
			}
		}
	}
	return "", false
}
