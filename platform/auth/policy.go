package auth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
)

// Rule says who may call a method: people by the role of their token, and
// other services only where the rule names them (For).
type Rule struct {
	kind ruleKind
	// services are the names of the services the rule admits, sorted and
	// comma-joined so that a Rule stays comparable.
	services string
}

type ruleKind int

const (
	authenticated ruleKind = iota
	public
	admin
	internal
)

// Rules. The zero Rule is Authenticated, so a Rule nobody set is never Public.
var (
	// Authenticated admits customers and admins with a valid token;
	// methods missing from a Policy get it.
	Authenticated = Rule{}
	// Public admits anyone; a valid token, if sent, still reaches the handler.
	Public = Rule{kind: public}
	// Admin admits tokens with the admin role.
	Admin = Rule{kind: admin}
	// Internal admits admins, and the services the rule names: write
	// Internal.For("order").
	Internal = Rule{kind: internal}
)

// For returns r admitting the named services too: they may call the method
// (a service is refused wherever it is not named, Public methods aside),
// and they alone may name, over native gRPC, the end user they call for
// (OnBehalfOfHeader). Admin methods admit no service.
func (r Rule) For(services ...string) Rule {
	names := slices.Clone(services)
	if r.services != "" {
		names = append(names, strings.Split(r.services, ",")...)
	}
	slices.Sort(names)
	r.services = strings.Join(slices.Compact(names), ",")
	return r
}

// Services are the services r names.
func (r Rule) Services() []string {
	if r.services == "" {
		return nil
	}
	return strings.Split(r.services, ",")
}

// names reports whether r names service.
func (r Rule) names(service string) bool {
	return service != "" && slices.Contains(r.Services(), service)
}

// String returns the rule's name and the services it names, e.g.
// "internal(order)".
func (r Rule) String() string {
	name := [...]string{"authenticated", "public", "admin", "internal"}[r.kind]
	if r.services != "" {
		name += "(" + r.services + ")"
	}
	return name
}

// allows reports whether a caller with role may call under r; service is
// the caller's name when it is a service.
func (r Rule) allows(role Role, service string) bool {
	if role == RoleService {
		return r.kind == public || (r.kind != admin && r.names(service))
	}
	switch r.kind {
	case public, authenticated:
		return true
	case admin, internal:
		return role == RoleAdmin
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

// ServiceAccountDomain is the email domain of password service accounts:
// the user service creates <name>@ServiceAccountDomain from its
// configuration and refuses to register any other account there, so the
// name in such a token's email is the service's.
const ServiceAccountDomain = "service.slipway.local"

// protocolHeader is the metadata key in which the platform's HTTP listener
// tags every request it forwards to the gRPC server ("rest", "grpc-web",
// "connect", "grpc-http"), overwriting whatever the client sent; native
// gRPC calls carry none (see platform/server).
const protocolHeader = "x-slipway-protocol"

// AuthenticateOption configures Authenticate.
type AuthenticateOption func(*authenticateOptions)

type authenticateOptions struct {
	trustDomain string // "" with TLS off
}

// WithTLS makes Authenticate follow the service's transport security c:
// with TLS on, a peer on the native gRPC listener that presents a verified
// service certificate is that service, and password service tokens are
// refused. With TLS off it changes nothing.
func WithTLS(c config.TLS) AuthenticateOption {
	return func(o *authenticateOptions) {
		if c.Enabled() {
			o.trustDomain = c.TrustDomain
		}
	}
}

// Authenticate is the hook the server chain calls for every RPC on every
// protocol. It establishes who calls, applies p's rule for fullMethod and
// returns ctx carrying the claims.
//
// The caller is the bearer of "authorization: Bearer <jwt>" when one is
// sent. Without a token, under mutual TLS (WithTLS), a native gRPC peer
// whose verified certificate names a service (spiffe://<trust
// domain>/<service>) is that service: Claims{Subject: service, Role:
// RoleService}. Password service accounts (RoleService tokens from Login)
// are for plaintext development only: under mutual TLS they are refused on
// every method that is not Public. A service is admitted only where the
// rule names it (Rule.For).
//
// OnBehalfOfHeader becomes Claims.OnBehalfOf only when the caller is a
// service the rule names and the call came over native gRPC: over REST,
// gRPC-Web and Connect, and from anyone else, the header is dropped, so
// nobody can act for someone else by sending it.
//
// Its errors are gRPC statuses: Unauthenticated for a missing or bad token,
// PermissionDenied for a caller the rule refuses, and Unavailable when the
// keys to verify with cannot be fetched.
func Authenticate(v Verifier, p Policy, opts ...AuthenticateOption) func(ctx context.Context, fullMethod string) (context.Context, error) {
	var o authenticateOptions
	for _, opt := range opts {
		opt(&o)
	}
	mutualTLS := o.trustDomain != ""
	return func(ctx context.Context, fullMethod string) (context.Context, error) {
		rule := p.Rule(fullMethod)
		var c Claims
		token, found := bearer(ctx)
		switch {
		case found:
			verified, err := v.Verify(ctx, token)
			switch {
			case err != nil && rule.kind == public:
				// A token on a public method is optional: use it when it
				// verifies, and never fail the call because of a stale one.
				return ctx, nil
			case errors.Is(err, errkind.Unavailable):
				return ctx, status.Error(codes.Unavailable, "token verification keys unavailable")
			case err != nil:
				return ctx, status.Error(codes.Unauthenticated, "invalid token")
			case verified.Role == RoleService && mutualTLS:
				if rule.kind == public {
					return ctx, nil
				}
				return ctx, status.Errorf(codes.PermissionDenied,
					"%s: service tokens are refused under mutual TLS; a service proves itself with its certificate", fullMethod)
			}
			c = verified
		case mutualTLS && nativeGRPC(ctx):
			name, ok := tlsconfig.PeerService(ctx, o.trustDomain)
			if !ok {
				break
			}
			c = Claims{Subject: name, Role: RoleService}
		}
		if c.Role == "" {
			if rule.kind == public {
				return ctx, nil
			}
			return ctx, status.Error(codes.Unauthenticated, "missing bearer token")
		}
		service := serviceName(c, mutualTLS)
		if !rule.allows(c.Role, service) {
			if c.Role == RoleService {
				return ctx, status.Errorf(codes.PermissionDenied, "%s requires the %s rule; service %q is not allowed", fullMethod, rule, service)
			}
			return ctx, status.Errorf(codes.PermissionDenied, "%s requires the %s rule; role %q is not allowed", fullMethod, rule, c.Role)
		}
		c.OnBehalfOf = ""
		if c.Role == RoleService && rule.names(service) && nativeGRPC(ctx) {
			c.OnBehalfOf = onBehalfOf(ctx)
		}
		return WithClaims(ctx, c), nil
	}
}

// serviceName is the name of a service caller: its certificate's under
// mutual TLS, else the name in its service account's email.
func serviceName(c Claims, mutualTLS bool) string {
	if c.Role != RoleService {
		return ""
	}
	if mutualTLS {
		return c.Subject
	}
	name, ok := strings.CutSuffix(c.Email, "@"+ServiceAccountDomain)
	if !ok || name == "" || strings.Contains(name, "@") {
		return ""
	}
	return name
}

// nativeGRPC reports whether the call came over the native gRPC listener:
// the HTTP listener tags every call it forwards (protocolHeader), whatever
// the client sent.
func nativeGRPC(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(protocolHeader)) == 0
}

// onBehalfOf is the first non-blank OnBehalfOfHeader of the call.
func onBehalfOf(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, value := range md.Get(OnBehalfOfHeader) {
		if value = strings.TrimSpace(value); value != "" {
			return value
		}
	}
	return ""
}

// bearer returns the token of the first "authorization: Bearer" entry.
func bearer(ctx context.Context) (string, bool) {
	// ValueFromIncomingContext copies the one key, not the whole metadata.
	for _, value := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			if token = strings.TrimSpace(token); token != "" {
				return token, true
			}
		}
	}
	return "", false
}
