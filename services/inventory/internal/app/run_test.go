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

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/services/inventory/internal/app"
)

// service is one inventory process started through app.Run.
type service struct {
	*servertest.Process
	natsURL string
	conn    *grpc.ClientConn
	client  inventoryv1.InventoryServiceClient
	signer  *auth.Signer
}

// start runs the service on SQLite with ports 0, a JWKS it controls and an
// embedded NATS JetStream, with extra settings over those ("KEY=value"),
// and stops it (asserting a clean stop) when the test ends.
func start(t testing.TB, extra ...string) *service {
	t.Helper()
	signer, jwksURL := servertest.Issuer(t)
	natsURL := natstest.StartOpen(t).URL()

	env := map[string]string{
		"GRPC_ADDR":     "127.0.0.1:0",
		"HTTP_ADDR":     "127.0.0.1:0",
		"DATABASE_URL":  "sqlite://" + filepath.Join(t.TempDir(), "inventory.db"),
		"AUTH_JWKS_URL": jwksURL,
		"DRAIN_DELAY":   "0s",
		"NATS_URL":      natsURL,
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	s := &service{Process: servertest.Start(t, app.Run, env), signer: signer, natsURL: natsURL}
	s.conn = servertest.Dial(t, s.GRPCAddr)
	s.client = inventoryv1.NewInventoryServiceClient(s.conn)
	return s
}

// token is a bearer token for role, signed with the key the service trusts.
func (s *service) token(t *testing.T, role auth.Role) string {
	t.Helper()
	c := auth.Claims{Subject: "test-" + string(role), Role: role}
	if role == auth.RoleService {
		c.Email = "order@" + auth.ServiceAccountDomain // the service the policy names for stock
	}
	token, _, err := s.signer.Sign(c)
	require.NoError(t, err)
	return token
}

// as is ctx carrying a token for role.
func (s *service) as(t *testing.T, role auth.Role) context.Context {
	t.Helper()
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+s.token(t, role))
}

func TestRunServesTheSeededCatalog(t *testing.T) {
	s := start(t)
	seeded, ok := s.Logs.Find("catalog seeded")
	require.True(t, ok, "the catalog is seeded on first start")
	assert.GreaterOrEqual(t, seeded["products_added"], float64(12))

	var all []*inventoryv1.Product
	token := ""
	for {
		page, err := s.client.ListProducts(t.Context(), &inventoryv1.ListProductsRequest{PageSize: 5, PageToken: token})
		require.NoError(t, err, "browsing needs no token")
		all = append(all, page.GetProducts()...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	assert.Len(t, all, int(seeded["products_added"].(float64)))

	resp, err := http.Get("http://" + s.HTTPAddr + "/v1/products/" + all[0].GetId())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"id":"`+all[0].GetId()+`"`)

	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		resp, err := http.Get("http://" + s.HTTPAddr + path)
		require.NoError(t, err, path)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
}

func TestRunEnforcesThePolicy(t *testing.T) {
	s := start(t)
	reserve := &inventoryv1.ReserveRequest{OrderId: "o-1", Items: []*inventoryv1.ReservationItem{{ProductId: "aeropress-go", Quantity: 1}}}
	adjust := &inventoryv1.AdjustStockRequest{ProductId: "aeropress-go", Delta: 5, Reason: "restock"}

	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"reserve without a token", func() error { _, err := s.client.Reserve(t.Context(), reserve); return err }, codes.Unauthenticated},
		{"reserve as a customer", func() error { _, err := s.client.Reserve(s.as(t, auth.RoleCustomer), reserve); return err }, codes.PermissionDenied},
		{"reserve as a service", func() error { _, err := s.client.Reserve(s.as(t, auth.RoleService), reserve); return err }, codes.OK},
		{"release as an admin", func() error {
			_, err := s.client.Release(s.as(t, auth.RoleAdmin), &inventoryv1.ReleaseRequest{OrderId: "o-1"})
			return err
		}, codes.OK},
		{"adjust as a service", func() error { _, err := s.client.AdjustStock(s.as(t, auth.RoleService), adjust); return err }, codes.PermissionDenied},
		{"adjust as an admin", func() error { _, err := s.client.AdjustStock(s.as(t, auth.RoleAdmin), adjust); return err }, codes.OK},
		{"an invalid request is refused before the handler", func() error {
			_, err := s.client.Reserve(s.as(t, auth.RoleService), &inventoryv1.ReserveRequest{OrderId: "o-2"})
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
		{Name: "a config file that is missing", Args: []string{"--config", "/nonexistent/inventory.yaml"}, WantErr: "inventory.yaml"},
		{Name: "a bad database url", Env: map[string]string{"DATABASE_URL": "mysql://db"}, WantErr: "DATABASE_URL"},
		{Name: "a bad seed flag", Env: map[string]string{"INVENTORY_SEED_CATALOG": "maybe"}, WantErr: "INVENTORY_SEED_CATALOG"},
		{Name: "a bad nats url", Env: map[string]string{"NATS_URL": "http://nats"}, WantErr: "NATS_URL"},
		{Name: "a zero reservation ttl", Env: map[string]string{"RESERVATION_TTL": "0s"}, WantErr: "RESERVATION_TTL"},
		{
			Name:    "no nats to connect to",
			Env:     map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "inventory.db")},
			WantErr: "nats",
		},
	})
}
