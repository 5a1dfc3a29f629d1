package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/services/order/internal/app"
)

// service is one order process started through app.Run, with its peers.
type service struct {
	*servertest.Process
	conn      *grpc.ClientConn
	client    orderv1.OrderServiceClient
	signer    *auth.Signer
	inventory *fakeInventory
	payments  *fakePayments
	users     *fakeUsers
	dbPath    string
	natsURL   string
}

// start runs the order service on SQLite with ports 0, a JWKS it controls,
// fake peers and NATS, and stops it (asserting a clean stop) when the test
// ends. setup, when not nil, gets the peers' address before the service
// starts and returns environment that overrides the defaults.
func start(t *testing.T, setup func(peers string) map[string]string) *service {
	t.Helper()
	signer, jwksURL := servertest.Issuer(t)
	s := &service{
		signer:    signer,
		inventory: newFakeInventory(),
		payments:  newFakePayments(),
		users:     &fakeUsers{signer: signer},
		dbPath:    filepath.Join(t.TempDir(), "order.db"),
		natsURL:   natstest.Shared(t),
	}
	peers := servePeers(t, signer, s.inventory, s.payments, s.users)
	env := map[string]string{
		"GRPC_ADDR":                "127.0.0.1:0",
		"HTTP_ADDR":                "127.0.0.1:0",
		"DATABASE_URL":             "sqlite://" + s.dbPath,
		"AUTH_JWKS_URL":            jwksURL,
		"DRAIN_DELAY":              "0s",
		"NATS_URL":                 s.natsURL,
		"INVENTORY_ADDR":           peers,
		"PAYMENT_ADDR":             peers,
		"USER_ADDR":                peers,
		"SERVICE_ACCOUNT_PASSWORD": serviceAccountPassword,
	}
	if setup != nil {
		for k, v := range setup(peers) {
			env[k] = v
		}
	}
	s.Process = servertest.Start(t, app.Run, env)
	s.conn = servertest.Dial(t, s.GRPCAddr)
	s.client = orderv1.NewOrderServiceClient(s.conn)
	return s
}

// token is a bearer token for the account id with role.
func (s *service) token(t *testing.T, subject string, role auth.Role) string {
	t.Helper()
	token, _, err := s.signer.Sign(auth.Claims{Subject: subject, Email: subject + "@example.com", Role: role})
	require.NoError(t, err)
	return token
}

// as is a context carrying a customer token for subject.
func (s *service) as(t *testing.T, subject string) context.Context {
	t.Helper()
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+s.token(t, subject, auth.RoleCustomer))
}

func TestRunServesAndIsReady(t *testing.T) {
	s := start(t, nil)
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		resp, err := http.Get("http://" + s.HTTPAddr + path)
		require.NoError(t, err, path)
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		switch path {
		case "/readyz":
			assert.Contains(t, body.String(), "nats", "NATS is a readiness dependency")
			assert.Contains(t, body.String(), "database")
		case "/openapi.yaml":
			assert.Contains(t, body.String(), "/v1/orders")
		case "/metrics":
			assert.Contains(t, body.String(), "slipway_outbox_pending", "the relay's metrics")
		}
	}
	adminToken, _, err := s.signer.Sign(auth.Claims{Subject: "ops", Role: auth.RoleAdmin})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr+"/debug/config", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken) // /debug/config is for admins only
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var debug struct {
		Config map[string]any `json:"config"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&debug))
	assert.NotEqual(t, serviceAccountPassword, debug.Config["service_account_password"], "the secret is redacted")
	assert.True(t, strings.HasPrefix(debug.Config["service_account_password"].(string), "hmac-sha256:"))
}

func TestRunRefusesBadStarts(t *testing.T) {
	base := map[string]string{
		"GRPC_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0",
		"DATABASE_URL":             "sqlite://" + filepath.Join(t.TempDir(), "order.db"),
		"SERVICE_ACCOUNT_PASSWORD": serviceAccountPassword,
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	servertest.RefusesBadStarts(t, app.Run, []servertest.BadStart{
		{Name: "help", Args: []string{"--help"}, Env: base, Is: flag.ErrHelp},
		{Name: "a stray argument", Args: []string{"serve"}, Env: base, WantErr: "unexpected arguments"},
		{Name: "a config file that is missing", Args: []string{"--config", "/nonexistent/order.yaml"}, Env: base, WantErr: "order.yaml"},
		{Name: "no service account password", Env: with("SERVICE_ACCOUNT_PASSWORD", ""), WantErr: "SERVICE_ACCOUNT_PASSWORD"},
		{Name: "a bad discovery", Env: with("DISCOVERY", "zookeeper://x"), WantErr: "DISCOVERY"},
		{Name: "no NATS to connect to", Env: with("NATS_URL", "nats://127.0.0.1:1"), WantErr: "nats"},
		{Name: "no etcd to connect to", Env: with("NATS_URL", natstest.Shared(t), "DISCOVERY", "etcd://127.0.0.1:1"), WantErr: "etcd"},
	})
}
