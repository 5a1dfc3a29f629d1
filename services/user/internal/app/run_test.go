package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/services/user/internal/app"
)

// startService runs the real entry point on port 0 with an SQLite file and
// a generated key under a temp dir, and waits until it serves.
func startService(t *testing.T, extra map[string]string) *servertest.Process {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"GRPC_ADDR":             "127.0.0.1:0",
		"HTTP_ADDR":             "127.0.0.1:0",
		"DATABASE_URL":          "sqlite://" + filepath.Join(dir, "user.db"),
		"AUTH_SIGNING_KEY_FILE": filepath.Join(dir, "keys", "user.pem"),
		"DRAIN_DELAY":           "0s",
		"ADMIN_EMAIL":           "admin@example.com",
		"ADMIN_PASSWORD":        "admin-password",
	}
	for k, v := range extra {
		env[k] = v
	}
	return servertest.Start(t, app.Run, env)
}

func TestRunServesEveryProtocol(t *testing.T) {
	svc := startService(t, nil)
	ctx := t.Context()

	_, ok := svc.Logs.Find("admin account ready")
	assert.True(t, ok, "the configured admin is ensured at start")

	conn := servertest.Dial(t, svc.GRPCAddr)
	users := userv1.NewUserServiceClient(conn)

	t.Run("health is SERVING without a token", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: userv1.UserService_ServiceDesc.ServiceName})
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	})

	var token string
	t.Run("gRPC: register, login, GetMe", func(t *testing.T) {
		reg, err := users.Register(ctx, &userv1.RegisterRequest{Email: "grpc@example.com", Password: "correct horse", DisplayName: "G"})
		require.NoError(t, err)
		login, err := users.Login(ctx, &userv1.LoginRequest{Email: "grpc@example.com", Password: "correct horse"})
		require.NoError(t, err)
		token = login.GetAccessToken()
		me, err := users.GetMe(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), &userv1.GetMeRequest{})
		require.NoError(t, err)
		assert.Equal(t, reg.GetUser().GetId(), me.GetUser().GetId())

		_, err = users.GetMe(ctx, &userv1.GetMeRequest{})
		assert.Equal(t, codes.Unauthenticated, status.Code(err))
	})

	t.Run("an invalid id is InvalidArgument", func(t *testing.T) {
		_, err := users.GetUser(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), &userv1.GetUserRequest{Id: "42"})
		assert.Equal(t, codes.InvalidArgument, status.Code(err))
	})

	base := "http://" + svc.HTTPAddr
	t.Run("REST: register, login, me", func(t *testing.T) {
		resp := do(t, http.MethodPost, base+"/v1/users", "", `{"email":"rest@example.com","password":"correct horse","displayName":"R"}`)
		require.Equal(t, http.StatusOK, resp.status, resp.body)

		resp = do(t, http.MethodPost, base+"/v1/sessions", "", `{"email":"rest@example.com","password":"correct horse"}`)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		var session struct {
			AccessToken string `json:"accessToken"`
		}
		require.NoError(t, json.Unmarshal([]byte(resp.body), &session))
		require.NotEmpty(t, session.AccessToken)

		resp = do(t, http.MethodGet, base+"/v1/me", session.AccessToken, "")
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		assert.Contains(t, resp.body, "rest@example.com")

		resp = do(t, http.MethodPost, base+"/v1/sessions", "", `{"email":"rest@example.com","password":"wrong horse"}`)
		assert.Equal(t, http.StatusUnauthorized, resp.status, resp.body)
		assert.Contains(t, resp.body, "invalid email or password")

		resp = do(t, http.MethodPost, base+"/v1/users", "", `{"email":"rest@example.com","password":"correct horse","displayName":"R"}`)
		assert.Equal(t, http.StatusConflict, resp.status, resp.body)
	})

	t.Run("JWKS verifies the issued tokens", func(t *testing.T) {
		resp := do(t, http.MethodGet, base+"/.well-known/jwks.json", "", "")
		require.Equal(t, http.StatusOK, resp.status)
		assert.Contains(t, resp.header.Get("Cache-Control"), "max-age=")

		v := auth.NewJWKSVerifier(base+"/.well-known/jwks.json", auth.DefaultIssuer, nil)
		claims, err := v.Verify(ctx, token)
		require.NoError(t, err)
		assert.Equal(t, "grpc@example.com", claims.Email)
	})

	t.Run("admin logs in with the configured password", func(t *testing.T) {
		login, err := users.Login(ctx, &userv1.LoginRequest{Email: "admin@example.com", Password: "admin-password"})
		require.NoError(t, err)
		assert.Equal(t, userv1.Role_ROLE_ADMIN, login.GetUser().GetRole())
	})

	t.Run("platform endpoints", func(t *testing.T) {
		openapi := do(t, http.MethodGet, base+"/openapi.yaml", "", "")
		assert.Equal(t, http.StatusOK, openapi.status)
		assert.Contains(t, openapi.body, "/v1/sessions")

		ready := do(t, http.MethodGet, base+"/readyz", "", "")
		assert.Equal(t, http.StatusOK, ready.status, ready.body)
		assert.Contains(t, ready.body, "database")

		assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, base+"/debug/config", "", "").status, "/debug/config is for admins only")
		admin, err := users.Login(ctx, &userv1.LoginRequest{Email: "admin@example.com", Password: "admin-password"})
		require.NoError(t, err)
		cfg := do(t, http.MethodGet, base+"/debug/config", admin.GetAccessToken(), "")
		assert.Equal(t, http.StatusOK, cfg.status)
		assert.NotContains(t, cfg.body, "admin-password", "secrets are redacted")
	})

	require.NoError(t, svc.Stop(), "a signal stops the service cleanly")
}

func TestRunKeepsTheKeyAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"DATABASE_URL":          "sqlite://" + filepath.Join(dir, "user.db"),
		"AUTH_SIGNING_KEY_FILE": filepath.Join(dir, "user.pem"),
	}
	first := startService(t, env)
	kid1 := jwksKid(t, first.HTTPAddr)
	require.NoError(t, first.Stop())

	second := startService(t, env)
	assert.Equal(t, kid1, jwksKid(t, second.HTTPAddr), "tokens issued before a restart stay valid")
}

func TestRunRejectsBadConfig(t *testing.T) {
	servertest.RefusesBadStarts(t, app.Run, []servertest.BadStart{
		{Name: "bad env", Env: map[string]string{"AUTH_TOKEN_TTL": "forever"}, WantErr: "AUTH_TOKEN_TTL"},
		{Name: "admin half set", Env: map[string]string{"ADMIN_EMAIL": "a@example.com"}, WantErr: "ADMIN_PASSWORD"},
		{Name: "service accounts", Env: map[string]string{"SERVICE_ACCOUNTS": "order"}, WantErr: "SERVICE_ACCOUNTS"},
		{Name: "missing file", Args: []string{"--config", "/nonexistent/user.yaml"}, WantErr: "user.yaml"},
		{Name: "stray arguments", Args: []string{"serve"}, WantErr: "unexpected arguments"},
		{Name: "unknown flag", Args: []string{"--nope"}, WantErr: "nope"},
	})
}

func TestRunEnsuresServiceAccounts(t *testing.T) {
	const first, second = "first-5ecret-pw", "second-5ecret-pw"
	dir := t.TempDir()
	env := map[string]string{
		"DATABASE_URL":          "sqlite://" + filepath.Join(dir, "user.db"),
		"AUTH_SIGNING_KEY_FILE": filepath.Join(dir, "user.pem"),
		"SERVICE_ACCOUNTS":      "order:" + first + ",notification:other-5ecret-pw",
		"ADMIN_EMAIL":           "admin@example.com", // to read /debug/config
		"ADMIN_PASSWORD":        "admin-password",
	}
	svc := startService(t, env)
	ready := svc.Logs.Messages("service account ready")
	require.Len(t, ready, 2, "every configured account is ensured at start")
	assert.Equal(t, "order", ready[0]["name"])
	assert.Equal(t, "order@service.slipway.local", ready[0]["email"])
	assert.NotContains(t, svc.Logs.String(), "5ecret", "no password reaches the log")

	conn := servertest.Dial(t, svc.GRPCAddr)
	users := userv1.NewUserServiceClient(conn)
	ctx := t.Context()

	login, err := users.Login(ctx, &userv1.LoginRequest{Email: "order@service.slipway.local", Password: first})
	require.NoError(t, err)
	assert.Equal(t, userv1.Role_ROLE_SERVICE, login.GetUser().GetRole())
	claims, err := auth.NewJWKSVerifier("http://"+svc.HTTPAddr+"/.well-known/jwks.json", auth.DefaultIssuer, nil).
		Verify(ctx, login.GetAccessToken())
	require.NoError(t, err)
	assert.Equal(t, auth.RoleService, claims.Role, "the token carries role service")
	assert.Equal(t, login.GetUser().GetId(), claims.Subject)

	_, err = users.GetMe(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+login.GetAccessToken()), &userv1.GetMeRequest{})
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "the user service's policy names no service: a service token reads no account")

	_, err = users.Register(ctx, &userv1.RegisterRequest{Email: "billing@service.slipway.local", Password: "correct horse", DisplayName: "B"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "registration cannot create a service account")

	admin, err := users.Login(ctx, &userv1.LoginRequest{Email: "admin@example.com", Password: "admin-password"})
	require.NoError(t, err)
	cfg := do(t, http.MethodGet, "http://"+svc.HTTPAddr+"/debug/config", admin.GetAccessToken(), "")
	require.Equal(t, http.StatusOK, cfg.status)
	assert.NotContains(t, cfg.body, "5ecret", "SERVICE_ACCOUNTS is a secret")
	require.NoError(t, svc.Stop())

	// A rotated password in the configuration replaces the stored one.
	env["SERVICE_ACCOUNTS"] = "order:" + second
	svc = startService(t, env)
	users = userv1.NewUserServiceClient(servertest.Dial(t, svc.GRPCAddr))
	_, err = users.Login(ctx, &userv1.LoginRequest{Email: "order@service.slipway.local", Password: first})
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "the old password stops working")
	again, err := users.Login(ctx, &userv1.LoginRequest{Email: "order@service.slipway.local", Password: second})
	if st := status.Convert(err); st.Code() == codes.ResourceExhausted {
		// The failed login slowed the account down (AUTH_FAILURE_DELAY): come back when told.
		wait := retryInfo(st.Details())
		require.Positive(t, wait)
		time.Sleep(wait)
		again, err = users.Login(ctx, &userv1.LoginRequest{Email: "order@service.slipway.local", Password: second})
	}
	require.NoError(t, err)
	assert.Equal(t, login.GetUser().GetId(), again.GetUser().GetId(), "the same account")
}

func jwksKid(t *testing.T, httpAddr string) string {
	t.Helper()
	resp := do(t, http.MethodGet, "http://"+httpAddr+"/.well-known/jwks.json", "", "")
	require.Equal(t, http.StatusOK, resp.status)
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.body), &set))
	require.Len(t, set.Keys, 1)
	return set.Keys[0].Kid
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, token, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
