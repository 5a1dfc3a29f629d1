package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/services/order/internal/app"
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
	sc.Buffer(nil, 1<<20)
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

// service is one order process started through app.Run, with its peers.
type service struct {
	grpcAddr, httpAddr string
	conn               *grpc.ClientConn
	client             orderv1.OrderServiceClient
	signer             *auth.Signer
	inventory          *fakeInventory
	users              *fakeUsers
	dbPath             string
	natsURL            string
	logs               *logBuffer
}

// start runs the order service on SQLite with ports 0, a JWKS it controls,
// fake peers and NATS, and stops it (asserting a clean stop) when the test
// ends. setup, when not nil, gets the peers' address before the service
// starts and returns environment that overrides the defaults.
func start(t *testing.T, setup func(peers string) map[string]string) *service {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	jwks := httptest.NewServer(signer.JWKS())
	t.Cleanup(jwks.Close)

	s := &service{
		signer:    signer,
		inventory: newFakeInventory(),
		users:     &fakeUsers{signer: signer},
		dbPath:    filepath.Join(t.TempDir(), "order.db"),
		natsURL:   natstest.Shared(t),
		logs:      &logBuffer{},
	}
	peers := servePeers(t, signer, s.inventory, s.users)
	env := map[string]string{
		"GRPC_ADDR":                "127.0.0.1:0",
		"HTTP_ADDR":                "127.0.0.1:0",
		"DATABASE_URL":             "sqlite://" + s.dbPath,
		"AUTH_JWKS_URL":            jwks.URL,
		"DRAIN_DELAY":              "0s",
		"NATS_URL":                 s.natsURL,
		"INVENTORY_ADDR":           peers,
		"USER_ADDR":                peers,
		"SERVICE_ACCOUNT_PASSWORD": serviceAccountPassword,
	}
	if setup != nil {
		for k, v := range setup(peers) {
			env[k] = v
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, nil, func(k string) string { return env[k] }, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "a clean stop")
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop")
		}
	})

	deadline := time.After(15 * time.Second)
	for {
		if line, ok := s.logs.find("serving"); ok {
			s.grpcAddr, _ = line["grpc_addr"].(string)
			s.httpAddr, _ = line["http_addr"].(string)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the service stopped before serving: %v\n%s", err, s.logs)
		case <-deadline:
			t.Fatalf("the service did not report serving\n%s", s.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s.conn = conn
	s.client = orderv1.NewOrderServiceClient(conn)
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
		resp, err := http.Get("http://" + s.httpAddr + path)
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
	req, err := http.NewRequest(http.MethodGet, "http://"+s.httpAddr+"/debug/config", nil)
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
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		is      error
	}{
		{name: "help", args: []string{"--help"}, env: base, is: flag.ErrHelp},
		{name: "a stray argument", args: []string{"serve"}, env: base, wantErr: "unexpected arguments"},
		{name: "a config file that is missing", args: []string{"--config", "/nonexistent/order.yaml"}, env: base, wantErr: "order.yaml"},
		{name: "no service account password", env: with("SERVICE_ACCOUNT_PASSWORD", ""), wantErr: "SERVICE_ACCOUNT_PASSWORD"},
		{name: "a bad discovery", env: with("DISCOVERY", "zookeeper://x"), wantErr: "DISCOVERY"},
		{name: "no NATS to connect to", env: with("NATS_URL", "nats://127.0.0.1:1"), wantErr: "nats"},
		{name: "no etcd to connect to", env: with("NATS_URL", natstest.Shared(t), "DISCOVERY", "etcd://127.0.0.1:1"), wantErr: "etcd"},
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
