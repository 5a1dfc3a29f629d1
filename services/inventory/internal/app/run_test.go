package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/services/inventory/internal/app"
)

// logBuffer collects the service's log lines as they are written.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first JSON log line whose msg is msg.
func (b *logBuffer) find(msg string) (map[string]any, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			return line, true
		}
	}
	return nil, false
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// service is one inventory process started through app.Run.
type service struct {
	grpcAddr, httpAddr string
	natsURL            string
	conn               *grpc.ClientConn
	client             inventoryv1.InventoryServiceClient
	signer             *auth.Signer
	logs               *logBuffer
}

// start runs the service on SQLite with ports 0, a JWKS it controls and an
// embedded NATS JetStream, with extra settings over those ("KEY=value"),
// and stops it (asserting a clean stop) when the test ends.
func start(t testing.TB, extra ...string) *service {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	jwks := httptest.NewServer(signer.JWKS())
	t.Cleanup(jwks.Close)

	natsURL := natstest.StartOpen(t).URL()

	env := map[string]string{
		"GRPC_ADDR":     "127.0.0.1:0",
		"HTTP_ADDR":     "127.0.0.1:0",
		"DATABASE_URL":  "sqlite://" + filepath.Join(t.TempDir(), "inventory.db"),
		"AUTH_JWKS_URL": jwks.URL,
		"DRAIN_DELAY":   "0s",
		"NATS_URL":      natsURL,
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, nil, func(k string) string { return env[k] }, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "a clean stop")
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop")
		}
	})

	s := &service{signer: signer, logs: logs, natsURL: natsURL}
	deadline := time.After(15 * time.Second)
	for {
		if line, ok := logs.find("serving"); ok {
			s.grpcAddr, _ = line["grpc_addr"].(string)
			s.httpAddr, _ = line["http_addr"].(string)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the service stopped before serving: %v\n%s", err, logs)
		case <-deadline:
			t.Fatalf("the service did not report serving\n%s", logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s.conn = conn
	s.client = inventoryv1.NewInventoryServiceClient(conn)
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
	seeded, ok := s.logs.find("catalog seeded")
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

	resp, err := http.Get("http://" + s.httpAddr + "/v1/products/" + all[0].GetId())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"id":"`+all[0].GetId()+`"`)

	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		resp, err := http.Get("http://" + s.httpAddr + path)
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
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		is      error
	}{
		{name: "help", args: []string{"--help"}, is: flag.ErrHelp},
		{name: "a stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "a config file that is missing", args: []string{"--config", "/nonexistent/inventory.yaml"}, wantErr: "inventory.yaml"},
		{name: "a bad database url", env: map[string]string{"DATABASE_URL": "mysql://db"}, wantErr: "DATABASE_URL"},
		{name: "a bad seed flag", env: map[string]string{"INVENTORY_SEED_CATALOG": "maybe"}, wantErr: "INVENTORY_SEED_CATALOG"},
		{name: "a bad nats url", env: map[string]string{"NATS_URL": "http://nats"}, wantErr: "NATS_URL"},
		{name: "a zero reservation ttl", env: map[string]string{"RESERVATION_TTL": "0s"}, wantErr: "RESERVATION_TTL"},
		{
			name:    "no nats to connect to",
			env:     map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "inventory.db")},
			wantErr: "nats",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := app.Run(t.Context(), tt.args, func(k string) string { return tt.env[k] }, &out)
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
