package rpc_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/password"
	"github.com/slipway-dev/slipway/services/user/internal/rpc"
	userstore "github.com/slipway-dev/slipway/services/user/internal/store"
)

type issuer struct{ signer *auth.Signer }

func (i issuer) Issue(_ context.Context, u domain.User) (domain.Token, error) {
	v, exp, err := i.signer.Sign(auth.Claims{Subject: u.ID, Email: u.Email, Role: auth.Role(u.Role)})
	return domain.Token{Value: v, ExpiresAt: exp}, err
}

type env struct {
	client userv1.UserServiceClient
	users  *domain.UserService
	signer *auth.Signer
}

// start serves the Handler over an in-memory gRPC connection with the auth
// hook in front, over a real SQLite store.
func start(t *testing.T) *env {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	require.NoError(t, db.Migrate(t.Context(), userstore.Migrations))

	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer := auth.NewSigner(key, "slipway", time.Hour)
	hasher := password.New(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	users := domain.NewUserService(userstore.NewUsers(db), hasher, issuer{signer})

	hook := auth.Authenticate(auth.NewKeyVerifier(signer.PublicKey(), "slipway"), rpc.Policy)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		ctx, err := hook(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}))
	userv1.RegisterUserServiceServer(srv, rpc.NewHandler(users, nil))
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &env{client: userv1.NewUserServiceClient(conn), users: users, signer: signer}
}

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func (e *env) register(t *testing.T, email string) *userv1.User {
	t.Helper()
	resp, err := e.client.Register(t.Context(), &userv1.RegisterRequest{Email: email, Password: "correct horse", DisplayName: "Someone"})
	require.NoError(t, err)
	return resp.GetUser()
}

func (e *env) login(t *testing.T, email, pw string) string {
	t.Helper()
	resp, err := e.client.Login(t.Context(), &userv1.LoginRequest{Email: email, Password: pw})
	require.NoError(t, err)
	return resp.GetAccessToken()
}

func TestRegisterLoginGetMe(t *testing.T) {
	e := start(t)
	before := time.Now()

	registered, err := e.client.Register(t.Context(), &userv1.RegisterRequest{
		Email: "Alice@Example.com", Password: "correct horse", DisplayName: "Alice",
	})
	require.NoError(t, err)
	u := registered.GetUser()
	assert.NotEmpty(t, u.GetId())
	assert.Equal(t, "alice@example.com", u.GetEmail())
	assert.Equal(t, "Alice", u.GetDisplayName())
	assert.Equal(t, userv1.Role_ROLE_CUSTOMER, u.GetRole())
	assert.WithinDuration(t, before, u.GetCreatedAt().AsTime(), time.Minute)

	session, err := e.client.Login(t.Context(), &userv1.LoginRequest{Email: "alice@example.com", Password: "correct horse"})
	require.NoError(t, err)
	assert.Equal(t, "Bearer", session.GetTokenType())
	assert.NotEmpty(t, session.GetAccessToken())
	assert.WithinDuration(t, time.Now().Add(time.Hour), session.GetExpiresAt().AsTime(), time.Minute)
	assert.Equal(t, u.GetId(), session.GetUser().GetId())

	claims, err := auth.NewKeyVerifier(e.signer.PublicKey(), "slipway").Verify(t.Context(), session.GetAccessToken())
	require.NoError(t, err)
	assert.Equal(t, u.GetId(), claims.Subject)
	assert.Equal(t, auth.RoleCustomer, claims.Role)

	me, err := e.client.GetMe(bearer(t.Context(), session.GetAccessToken()), &userv1.GetMeRequest{})
	require.NoError(t, err)
	assert.Equal(t, u.GetId(), me.GetUser().GetId())
	assert.Equal(t, "alice@example.com", me.GetUser().GetEmail())

	self, err := e.client.GetUser(bearer(t.Context(), session.GetAccessToken()), &userv1.GetUserRequest{Id: u.GetId()})
	require.NoError(t, err)
	assert.Equal(t, u.GetEmail(), self.GetUser().GetEmail())
}

func TestErrorsReachTheClientAsCodes(t *testing.T) {
	e := start(t)
	alice := e.register(t, "alice@example.com")
	bob := e.register(t, "bob@example.com")
	aliceToken := e.login(t, "alice@example.com", "correct horse")

	_, err := e.users.EnsureAdmin(t.Context(), "admin@example.com", "admin-password")
	require.NoError(t, err)
	adminToken := e.login(t, "admin@example.com", "admin-password")

	t.Run("duplicate registration", func(t *testing.T) {
		_, err := e.client.Register(t.Context(), &userv1.RegisterRequest{Email: "ALICE@example.com", Password: "password1", DisplayName: "A"})
		assert.Equal(t, codes.AlreadyExists, status.Code(err))
	})

	t.Run("wrong password and unknown email look the same", func(t *testing.T) {
		_, wrong := e.client.Login(t.Context(), &userv1.LoginRequest{Email: "alice@example.com", Password: "wrong horse"})
		_, unknown := e.client.Login(t.Context(), &userv1.LoginRequest{Email: "nobody@example.com", Password: "wrong horse"})
		for _, err := range []error{wrong, unknown} {
			st := status.Convert(err)
			assert.Equal(t, codes.Unauthenticated, st.Code())
			assert.Equal(t, "invalid email or password", st.Message())
		}
	})

	t.Run("invalid field carries a violation", func(t *testing.T) {
		_, err := e.client.Register(t.Context(), &userv1.RegisterRequest{Email: "not-an-email", Password: "password1", DisplayName: "X"})
		st := status.Convert(err)
		require.Equal(t, codes.InvalidArgument, st.Code())
		require.Len(t, st.Details(), 1)
		br, ok := st.Details()[0].(*errdetails.BadRequest)
		require.True(t, ok)
		assert.Equal(t, "email", br.GetFieldViolations()[0].GetField())
	})

	t.Run("customer cannot read another account", func(t *testing.T) {
		_, err := e.client.GetUser(bearer(t.Context(), aliceToken), &userv1.GetUserRequest{Id: bob.GetId()})
		assert.Equal(t, codes.NotFound, status.Code(err))
	})

	t.Run("admin reads any account", func(t *testing.T) {
		resp, err := e.client.GetUser(bearer(t.Context(), adminToken), &userv1.GetUserRequest{Id: alice.GetId()})
		require.NoError(t, err)
		assert.Equal(t, "alice@example.com", resp.GetUser().GetEmail())
	})

	t.Run("admin sees its own role", func(t *testing.T) {
		resp, err := e.client.GetMe(bearer(t.Context(), adminToken), &userv1.GetMeRequest{})
		require.NoError(t, err)
		assert.Equal(t, userv1.Role_ROLE_ADMIN, resp.GetUser().GetRole())
	})

	t.Run("GetMe needs a token", func(t *testing.T) {
		_, err := e.client.GetMe(t.Context(), &userv1.GetMeRequest{})
		st := status.Convert(err)
		assert.Equal(t, codes.Unauthenticated, st.Code())
		assert.Equal(t, "missing bearer token", st.Message())
	})

	t.Run("GetUser rejects a forged token", func(t *testing.T) {
		_, other, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		forged, _, err := auth.NewSigner(other, "slipway", time.Hour).Sign(auth.Claims{Subject: alice.GetId(), Role: auth.RoleAdmin})
		require.NoError(t, err)
		_, err = e.client.GetUser(bearer(t.Context(), forged), &userv1.GetUserRequest{Id: bob.GetId()})
		st := status.Convert(err)
		assert.Equal(t, codes.Unauthenticated, st.Code())
		assert.Equal(t, "invalid token", st.Message())
	})

	t.Run("a service token reads no account: the policy names no service", func(t *testing.T) {
		svcToken, _, err := e.signer.Sign(auth.Claims{Subject: "order", Email: "order@" + auth.ServiceAccountDomain, Role: auth.RoleService})
		require.NoError(t, err)
		_, err = e.client.GetUser(bearer(t.Context(), svcToken), &userv1.GetUserRequest{Id: bob.GetId()})
		assert.Equal(t, codes.PermissionDenied, status.Code(err))
		_, err = e.client.GetMe(bearer(t.Context(), svcToken), &userv1.GetMeRequest{})
		assert.Equal(t, codes.PermissionDenied, status.Code(err))
	})
}

func TestHandlerWithoutAuthHookRefusesAnonymousReads(t *testing.T) {
	h := rpc.NewHandler(nil, nil)
	_, err := h.GetMe(t.Context(), &userv1.GetMeRequest{})
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = h.GetUser(t.Context(), &userv1.GetUserRequest{Id: "x"})
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
}

func TestPolicy(t *testing.T) {
	assert.Equal(t, auth.Public, rpc.Policy.Rule(userv1.UserService_Register_FullMethodName))
	assert.Equal(t, auth.Public, rpc.Policy.Rule(userv1.UserService_Login_FullMethodName))
	assert.Equal(t, auth.Authenticated, rpc.Policy.Rule(userv1.UserService_GetUser_FullMethodName))
	assert.Equal(t, auth.Authenticated, rpc.Policy.Rule(userv1.UserService_GetMe_FullMethodName))
	for _, m := range userv1.UserService_ServiceDesc.Methods {
		assert.Contains(t, rpc.Policy, "/"+userv1.UserService_ServiceDesc.ServiceName+"/"+m.MethodName, "every method has an explicit rule")
	}
}
