package app_test

import (
	"context"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/services/payment/internal/app"
)

// service is one payment process started through app.Run.
type service struct {
	*servertest.Process
	conn   *grpc.ClientConn
	client paymentv1.PaymentServiceClient
	signer *auth.Signer
}

// start runs the service on SQLite with ports 0 and a JWKS it controls, and
// stops it (asserting a clean stop) when the test ends.
func start(t testing.TB) *service {
	t.Helper()
	signer, jwksURL := servertest.Issuer(t)
	env := map[string]string{
		"GRPC_ADDR":     "127.0.0.1:0",
		"HTTP_ADDR":     "127.0.0.1:0",
		"DATABASE_URL":  "sqlite://" + filepath.Join(t.TempDir(), "payment.db"),
		"AUTH_JWKS_URL": jwksURL,
		"DRAIN_DELAY":   "0s",
	}
	s := &service{Process: servertest.Start(t, app.Run, env), signer: signer}
	s.conn = servertest.Dial(t, s.GRPCAddr)
	s.client = paymentv1.NewPaymentServiceClient(s.conn)
	return s
}

// token is a bearer token for subject with role, signed with the key the
// service trusts.
func (s *service) token(t *testing.T, subject string, role auth.Role) string {
	t.Helper()
	c := auth.Claims{Subject: subject, Role: role}
	if role == auth.RoleService {
		c.Email = subject + "@" + auth.ServiceAccountDomain
	}
	token, _, err := s.signer.Sign(c)
	require.NoError(t, err)
	return token
}

// as is ctx carrying a token for subject with role.
func (s *service) as(t *testing.T, subject string, role auth.Role) context.Context {
	t.Helper()
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+s.token(t, subject, role))
}

func TestRunServesPayments(t *testing.T) {
	s := start(t)
	created, err := s.client.CreatePayment(s.as(t, "user-alice", auth.RoleCustomer), &paymentv1.CreatePaymentRequest{Name: "first"})
	require.NoError(t, err)
	id := created.GetPayment().GetId()
	require.NotEmpty(t, id)
	assert.Equal(t, "user-alice", created.GetPayment().GetOwnerId(), "the caller owns what they create")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.HTTPAddr+"/v1/payment/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.token(t, "user-alice", auth.RoleCustomer))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"id":"`+id+`"`)

	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		resp, err := http.Get("http://" + s.HTTPAddr + path)
		require.NoError(t, err, path)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		if path == "/openapi.yaml" {
			assert.True(t, strings.Contains(string(body), "/v1/payment"), "the document describes the service's routes")
		}
	}
}

func TestRunEnforcesThePolicy(t *testing.T) {
	s := start(t)
	create := &paymentv1.CreatePaymentRequest{Name: "first"}
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"create without a token", func() error { _, err := s.client.CreatePayment(t.Context(), create); return err }, codes.Unauthenticated},
		{"create as a customer", func() error {
			_, err := s.client.CreatePayment(s.as(t, "user-alice", auth.RoleCustomer), create)
			return err
		}, codes.OK},
		{"create as an admin", func() error {
			_, err := s.client.CreatePayment(s.as(t, "user-root", auth.RoleAdmin), create)
			return err
		}, codes.OK},
		{"create as a service", func() error { _, err := s.client.CreatePayment(s.as(t, "order", auth.RoleService), create); return err }, codes.PermissionDenied},
		{"list without a token", func() error {
			_, err := s.client.ListPayments(t.Context(), &paymentv1.ListPaymentsRequest{})
			return err
		}, codes.Unauthenticated},
		{"an invalid request is refused before the handler", func() error {
			_, err := s.client.CreatePayment(s.as(t, "user-alice", auth.RoleCustomer), &paymentv1.CreatePaymentRequest{})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, status.Code(tt.call()))
		})
	}
}

func TestRunRefusesBadStarts(t *testing.T) {
	servertest.RefusesBadStarts(t, app.Run, []servertest.BadStart{
		{Name: "help", Args: []string{"--help"}, Is: flag.ErrHelp},
		{Name: "a stray argument", Args: []string{"serve"}, WantErr: "unexpected arguments"},
		{Name: "a config file that is missing", Args: []string{"--config", "/nonexistent/payment.yaml"}, WantErr: "payment.yaml"},
		{Name: "a bad database url", Env: map[string]string{"DATABASE_URL": "mysql://db"}, WantErr: "DATABASE_URL"},
		{Name: "a bad grpc address", Env: map[string]string{"GRPC_ADDR": "nope"}, WantErr: "GRPC_ADDR"},
	})
}
