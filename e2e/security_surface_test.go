package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
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
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
)

// surfaceEnv shortens the limits under attack so the test runs in seconds:
// a 2s read timeout, and unary deadlines capped at 3s. Fault injection is
// on so a slow handler can be staged through /admin/faults.
var surfaceEnv = []string{
	"HTTP_READ_TIMEOUT=2s", "RPC_MAX_TIMEOUT=3s", "HTTP_WRITE_TIMEOUT=10s", "FAULTS_ENABLED=true",
}

// surfaceWorld is what every attack must leave as it found it: one
// customer's orders and the stock of the products.
type surfaceWorld struct {
	orders int
	stock  map[string]int64
}

func surfaceSnapshot(t *testing.T, s *shop, token string) surfaceWorld {
	t.Helper()
	ctx := t.Context()
	orders, err := s.ListMyOrders(ctx, token)
	require.NoError(t, err)
	products, err := s.ListProducts(ctx)
	require.NoError(t, err)
	w := surfaceWorld{orders: len(orders), stock: map[string]int64{}}
	for _, p := range products {
		w.stock[p.GetId()] = p.GetStock()
	}
	return w
}

// surfaceRequest sends method url with an optional bearer token and body.
func surfaceRequest(t *testing.T, method, url, token string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(raw)
}

// surfaceSlowloris sends a POST's headers and then its body a byte every
// 200ms (a 1 KiB body would take 200s), and returns how long the server let
// the connection live.
func surfaceSlowloris(t *testing.T, addr, path, token string) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n", path, addr, token)
	require.NoError(t, err)
	started := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
	}()
	for range 1024 {
		select {
		case <-closed:
			return time.Since(started)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(started) > 20*time.Second {
			return time.Since(started) // not cut: the protection is off
		}
		if _, err := conn.Write([]byte(" ")); err != nil {
			<-closed
			return time.Since(started)
		}
	}
	return time.Since(started)
}

// TestSecuritySurface attacks the operator surface and the transport limits
// of the live system: /debug/config without the admin role, a slowloris
// body, an over-long deadline and an oversized message. Each is refused,
// and afterwards the customer's orders and every product's stock are as
// they were.
func TestSecuritySurface(t *testing.T) {
	c := startCluster(t, surfaceEnv...)
	s := c.shop(t, "grpc")
	ctx := t.Context()
	email := "surface-" + randomHex(t, 4) + "@e2e.test"
	_, err := s.Register(ctx, email, "correct horse battery")
	require.NoError(t, err)
	customer, err := s.Login(ctx, email, "correct horse battery")
	require.NoError(t, err)
	admin, err := s.Login(ctx, "admin@e2e.test", "e2e-admin-password")
	require.NoError(t, err)
	before := surfaceSnapshot(t, s, customer)
	require.NotEmpty(t, before.stock, "the catalog is seeded")
	var product string
	for id := range before.stock {
		product = id
		break
	}

	t.Run("debug config without the admin role", func(t *testing.T) {
		for _, svc := range services {
			url := "http://" + c.procs[svc].httpAddr + "/debug/config"
			for _, tt := range []struct {
				name, token string
				want        int
			}{
				{"no token", "", http.StatusUnauthorized},
				{"a customer", customer, http.StatusForbidden},
			} {
				code, hdr, body := surfaceRequest(t, http.MethodGet, url, tt.token, nil)
				assert.Equal(t, tt.want, code, "%s %s", svc, tt.name)
				assert.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
				for _, leak := range []string{`"config"`, "database_url", "admin_password", "hmac-sha256:", c.secret} {
					assert.NotContains(t, body, leak, "%s %s: a refusal shows no config", svc, tt.name)
				}
			}
			code, _, body := surfaceRequest(t, http.MethodGet, url, admin, nil)
			require.Equal(t, http.StatusOK, code, "%s: the admin reads it", svc)
			assert.NotContains(t, body, c.secret, svc)
			assert.NotContains(t, body, "e2e-admin-password", svc)

			code, _, _ = surfaceRequest(t, http.MethodGet, "http://"+c.procs[svc].httpAddr+"/debug/pprof/", admin, nil)
			assert.NotEqual(t, http.StatusOK, code, "%s: pprof is off by default", svc)
		}
		_, _, body := surfaceRequest(t, http.MethodGet, "http://"+c.procs["user"].httpAddr+"/debug/config", admin, nil)
		var doc struct{ Config map[string]any }
		require.NoError(t, json.Unmarshal([]byte(body), &doc))
		assert.Regexp(t, `^hmac-sha256:[0-9a-f]{64}$`, doc.Config["admin_password"], "a keyed fingerprint, not a crackable hash")
	})

	t.Run("slowloris body", func(t *testing.T) {
		lived := surfaceSlowloris(t, c.procs["order"].httpAddr, "/v1/orders", customer)
		assert.Less(t, lived, 8*time.Second, "a body trickled at 5 bytes/s is cut near HTTP_READ_TIMEOUT=2s")
	})

	t.Run("over-long deadline", func(t *testing.T) {
		inv := "http://" + c.procs["inventory"].httpAddr + "/admin/faults"
		code, _, body := surfaceRequest(t, http.MethodPut, inv, admin,
			strings.NewReader(`{"rules":[{"method":"/slipway.inventory.v1.InventoryService/GetProduct","delay":"30s"}]}`))
		require.Equal(t, http.StatusOK, code, body)
		defer surfaceRequest(t, http.MethodDelete, inv, admin, nil) // before the test's context ends

		conn, err := grpc.NewClient(c.procs["inventory"].grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		hour, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		started := time.Now()
		_, err = inventoryv1.NewInventoryServiceClient(conn).GetProduct(hour, &inventoryv1.GetProductRequest{Id: product})
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
		assert.Less(t, time.Since(started), 10*time.Second, "the server cut the 1h deadline to RPC_MAX_TIMEOUT=3s")

		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.procs["inventory"].httpAddr+"/v1/products/"+product, nil)
		require.NoError(t, err)
		req.Header.Set("Grpc-Timeout", "3600S")
		started = time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode, "REST too")
		assert.Less(t, time.Since(started), 10*time.Second)
	})

	t.Run("oversized message", func(t *testing.T) {
		huge := strings.Repeat("x", 5<<20) // over GRPC_MAX_MESSAGE_BYTES (4 MiB)
		conn, err := grpc.NewClient(c.procs["order"].grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
		require.NoError(t, err)
		defer conn.Close()
		authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+customer)
		_, err = orderv1.NewOrderServiceClient(conn).CreateOrder(authed, &orderv1.CreateOrderRequest{
			IdempotencyKey: "surface-" + randomHex(t, 8),
			Items:          []*orderv1.LineItem{{ProductId: product, Quantity: 1}, {ProductId: huge, Quantity: 1}},
		})
		assert.Equal(t, codes.ResourceExhausted, status.Code(err), "grpc: %v", err)

		body := `{"idempotency_key":"surface-` + randomHex(t, 8) + `","items":[{"product_id":"` + product + `","quantity":1},{"product_id":"` + huge + `","quantity":1}]}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.procs["order"].httpAddr+"/v1/orders", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+customer)
		req.Header.Set("Content-Type", "application/json")
		// As curl does for a large body: the server refuses before it is sent
		// (without it the refusal races the upload, which the server cuts).
		req.Header.Set("Expect", "100-continue")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "rest: %.200s", answer)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		assert.Contains(t, string(answer), `"code":"RESOURCE_EXHAUSTED"`)
	})

	after := surfaceSnapshot(t, s, customer)
	assert.Equal(t, before, after, "no attack placed an order or moved stock")
}
