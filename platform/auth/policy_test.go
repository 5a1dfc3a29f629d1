package auth

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	methodPublic   = "/slipway.test.v1.TestService/Public"
	methodAuthed   = "/slipway.test.v1.TestService/Authed"
	methodAdmin    = "/slipway.test.v1.TestService/Admin"
	methodInternal = "/slipway.test.v1.TestService/Internal"
	methodMissing  = "/slipway.test.v1.TestService/NotInPolicy"
	methodAgent    = "/slipway.test.v1.TestService/Agent"
)

var testPolicy = Policy{
	methodPublic:   Public,
	methodAuthed:   Authenticated,
	methodAdmin:    Admin.For("order"), // Admin admits no service, named or not
	methodInternal: Internal.For("order"),
	methodAgent:    Authenticated.For("order"),
}

func withAuthorization(value string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", value))
}

func TestAuthenticateRules(t *testing.T) {
	key := newKey(t)
	s := NewSigner(key, "slipway", time.Hour)
	hook := Authenticate(NewKeyVerifier(key.Public().(ed25519.PublicKey), "slipway"), testPolicy)

	tokens := map[Role]string{}
	for _, role := range []Role{RoleCustomer, RoleAdmin, RoleService} {
		tokens[role] = sign(t, s, Claims{Subject: "subject-" + string(role), Email: "order@" + ServiceAccountDomain, Role: role})
	}
	// A service the policy names nowhere.
	tokens["stranger"] = sign(t, s, Claims{Subject: "subject-stranger", Email: "billing@" + ServiceAccountDomain, Role: RoleService})
	// A customer whose email imitates a service account's.
	tokens["impostor"] = sign(t, s, Claims{Subject: "subject-impostor", Email: "order@" + ServiceAccountDomain, Role: RoleCustomer})

	ok, denied := codes.OK, codes.PermissionDenied
	tests := []struct {
		method string
		want   map[Role]codes.Code
	}{
		{methodPublic, map[Role]codes.Code{RoleCustomer: ok, RoleAdmin: ok, RoleService: ok, "stranger": ok, "impostor": ok}},
		{methodAuthed, map[Role]codes.Code{RoleCustomer: ok, RoleAdmin: ok, RoleService: denied, "stranger": denied, "impostor": ok}},
		{methodAgent, map[Role]codes.Code{RoleCustomer: ok, RoleAdmin: ok, RoleService: ok, "stranger": denied, "impostor": ok}},
		{methodMissing, map[Role]codes.Code{RoleCustomer: ok, RoleAdmin: ok, RoleService: denied, "stranger": denied, "impostor": ok}},
		{methodAdmin, map[Role]codes.Code{RoleCustomer: denied, RoleAdmin: ok, RoleService: denied, "stranger": denied, "impostor": denied}},
		{methodInternal, map[Role]codes.Code{RoleCustomer: denied, RoleAdmin: ok, RoleService: ok, "stranger": denied, "impostor": denied}},
	}
	for _, tt := range tests {
		for role, want := range tt.want {
			t.Run(tt.method+"/"+string(role), func(t *testing.T) {
				ctx, err := hook(withAuthorization("Bearer "+tokens[role]), tt.method)
				require.Equal(t, want, status.Code(err), "err: %v", err)
				if want != codes.OK {
					return
				}
				c, found := FromContext(ctx)
				require.True(t, found, "an admitted caller's claims are in the context")
				assert.Equal(t, "subject-"+string(role), c.Subject)
				assert.Contains(t, []Role{RoleCustomer, RoleAdmin, RoleService}, c.Role)
			})
		}
	}
}

func TestAuthenticateWithoutValidToken(t *testing.T) {
	key := newKey(t)
	hook := Authenticate(NewKeyVerifier(key.Public().(ed25519.PublicKey), "slipway"), testPolicy)
	stranger := sign(t, NewSigner(newKey(t), "slipway", time.Hour), alice)

	tests := []struct {
		name     string
		ctx      context.Context
		method   string
		wantCode codes.Code
		wantMsg  string
	}{
		{"no metadata", context.Background(), methodAuthed, codes.Unauthenticated, "missing bearer token"},
		{"no authorization", metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-other", "1")), methodAuthed, codes.Unauthenticated, "missing bearer token"},
		{"basic scheme", withAuthorization("Basic dXNlcjpwYXNz"), methodAuthed, codes.Unauthenticated, "missing bearer token"},
		{"empty bearer", withAuthorization("Bearer "), methodAuthed, codes.Unauthenticated, "missing bearer token"},
		{"untrusted token", withAuthorization("Bearer " + stranger), methodAuthed, codes.Unauthenticated, "invalid token"},
		{"garbage token", withAuthorization("Bearer abc"), methodAdmin, codes.Unauthenticated, "invalid token"},
		{"missing token on a method not in the policy", context.Background(), methodMissing, codes.Unauthenticated, "missing bearer token"},
		{"public method", context.Background(), methodPublic, codes.OK, ""},
		{"public method ignores a bad token", withAuthorization("Bearer abc"), methodPublic, codes.OK, ""},
		{"health check", context.Background(), "/grpc.health.v1.Health/Check", codes.OK, ""},
		{"health watch", context.Background(), "/grpc.health.v1.Health/Watch", codes.OK, ""},
		{"reflection", context.Background(), "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", codes.OK, ""},
		{"reflection v1alpha", context.Background(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := hook(tt.ctx, tt.method)
			st := status.Convert(err)
			assert.Equal(t, tt.wantCode, st.Code())
			assert.Equal(t, tt.wantMsg, st.Message())
			_, found := FromContext(ctx)
			assert.False(t, found, "no claims without a valid token")
		})
	}
}

func TestAuthenticatePublicMethodKeepsValidClaims(t *testing.T) {
	key := newKey(t)
	hook := Authenticate(NewKeyVerifier(key.Public().(ed25519.PublicKey), "slipway"), testPolicy)
	token := sign(t, NewSigner(key, "slipway", time.Hour), alice)

	ctx, err := hook(withAuthorization("bearer "+token), methodPublic)
	require.NoError(t, err)
	c, found := FromContext(ctx)
	require.True(t, found)
	assert.Equal(t, alice.Subject, c.Subject)
}

func TestAuthenticateKeysUnavailable(t *testing.T) {
	is := newIssuer(t)
	is.setDown(true)
	hook := Authenticate(NewJWKSVerifier(is.srv.URL, "slipway", is.srv.Client()), testPolicy)

	_, err := hook(withAuthorization("Bearer "+sign(t, is.signer, alice)), methodAuthed)
	assert.Equal(t, codes.Unavailable, status.Code(err), "an unreachable issuer is retryable, not the caller's fault")
}

func TestPolicyRule(t *testing.T) {
	assert.Equal(t, Authenticated, Rule{}, "the zero Rule must not be Public")
	assert.Equal(t, Authenticated, Policy(nil).Rule(methodPublic))
	assert.Equal(t, Internal.For("order"), testPolicy.Rule(methodInternal))
	assert.Equal(t, "internal", Internal.String())
	assert.Equal(t, "internal(inventory,order)", Internal.For("order").For("inventory", "order").String())
	assert.Equal(t, []string{"order"}, Internal.For("order").Services())
	assert.Nil(t, Public.Services())
}
