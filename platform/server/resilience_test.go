package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
)

// retryInfo returns the RetryInfo detail of err's status, or nil.
func retryInfo(err error) *errdetails.RetryInfo {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
}

// getREST fetches path and decodes a problem body when the answer is not 200.
func getREST(t *testing.T, h *harness, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(h.baseURL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// metricValue reads one sample of a counter or gauge from /metrics; 0 when absent.
func metricValue(t *testing.T, h *harness, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(h.baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
next:
	for _, m := range families[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return 0
}

func TestRetryAfterErrorTellsClientsWhenToComeBack(t *testing.T) {
	h := start(t, nil)

	t.Run("grpc: RESOURCE_EXHAUSTED with RetryInfo", func(t *testing.T) {
		_, err := inventoryv1.NewInventoryServiceClient(h.grpcConn).GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "busy"})
		require.Equal(t, codes.ResourceExhausted, status.Code(err), "err: %v", err)
		assert.Contains(t, status.Convert(err).Message(), "rate limit of 5 lookups per second reached")
		ri := retryInfo(err)
		require.NotNil(t, ri, "the status carries RetryInfo")
		assert.Equal(t, 1500*time.Millisecond, ri.GetRetryDelay().AsDuration())
	})

	t.Run("rest: 429 with Retry-After rounded up to whole seconds", func(t *testing.T) {
		resp, body := getREST(t, h, "/v1/products/busy")
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, "2", resp.Header.Get("Retry-After"), "1.5 s rounds up, never down")
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		var p struct{ Code, Detail string }
		require.NoError(t, json.Unmarshal(body, &p), string(body))
		assert.Equal(t, "RESOURCE_EXHAUSTED", p.Code)
	})

	t.Run("rest: other errors carry no Retry-After", func(t *testing.T) {
		resp, _ := getREST(t, h, "/v1/products/teapot")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("Retry-After"))
	})
}

func TestLoadSheddingAtTheInflightLimit(t *testing.T) {
	h := start(t, func(b *config.Base) { b.MaxInflight, b.ShedQueueTimeout = 1, 10*time.Millisecond })
	inventory := inventoryv1.NewInventoryServiceClient(h.grpcConn)

	slow := make(chan error, 1)
	go func() {
		_, err := inventory.GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "slow"})
		slow <- err
	}()
	require.Eventually(t, func() bool { return strings.Contains(h.logs.String(), `"product_id":"slow"`) },
		5*time.Second, 5*time.Millisecond, "the slow call holds the only slot")

	t.Run("grpc is shed with RetryInfo", func(t *testing.T) {
		_, err := inventory.GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "mug"})
		require.Equal(t, codes.ResourceExhausted, status.Code(err), "err: %v", err)
		ri := retryInfo(err)
		require.NotNil(t, ri)
		assert.Equal(t, 50*time.Millisecond, ri.GetRetryDelay().AsDuration(), "the hint is never shorter than 50 ms")
	})
	t.Run("rest is shed with 429 and Retry-After", func(t *testing.T) {
		resp, _ := getREST(t, h, "/v1/products/mug")
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), "at least one second")
	})
	t.Run("health checks are never shed", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(h.grpcConn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	})
	t.Run("the admin endpoint is not an RPC and is not shed", func(t *testing.T) {
		resp, _ := getREST(t, h, "/admin/faults")
		assert.NotEqual(t, http.StatusTooManyRequests, resp.StatusCode)
	})
	assert.Equal(t, 2.0, metricValue(t, h, "slipway_rpc_shed_total",
		map[string]string{"service": "catalog", "method": "/slipway.inventory.v1.InventoryService/GetProduct"}))

	close(h.release)
	require.NoError(t, <-slow)
	_, err := inventory.GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "mug"})
	assert.NoError(t, err, "a freed slot serves again")
}

func TestLoadSheddingQueuesUntilASlotFrees(t *testing.T) {
	h := start(t, func(b *config.Base) { b.MaxInflight, b.ShedQueueTimeout = 1, time.Minute })
	inventory := inventoryv1.NewInventoryServiceClient(h.grpcConn)
	results := make(chan error, 2)
	call := func(id string) {
		_, err := inventory.GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: id})
		results <- err
	}
	go call("slow")
	require.Eventually(t, func() bool { return strings.Contains(h.logs.String(), `"product_id":"slow"`) },
		5*time.Second, 5*time.Millisecond)
	go call("mug")
	require.Eventually(t, func() bool {
		return metricValue(t, h, "slipway_rpc_in_flight", map[string]string{"protocol": "grpc"}) == 2
	}, 5*time.Second, 5*time.Millisecond, "the second call waits in the chain for the slot")
	assert.NotContains(t, h.logs.String(), `"product_id":"mug"`, "it has not reached the handler")

	close(h.release)
	for range 2 {
		assert.NoError(t, <-results)
	}
	assert.Zero(t, metricValue(t, h, "slipway_rpc_shed_total", nil), "nothing was shed")
}
