package client_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// ratelimited answers its first calls with errkind.RetryAfter, as a
// domain that hit a limit does.
type ratelimited struct {
	inventoryv1.UnimplementedInventoryServiceServer
	limited int32
	calls   atomic.Int32
}

func (r *ratelimited) GetProduct(_ context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	if r.calls.Add(1) <= r.limited {
		return nil, server.Status(errkind.RetryAfter("lookup limit reached", 40*time.Millisecond))
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId()}}, nil
}

// TestRetriesHonourThePlatformServersRetryAfter runs the real server chain:
// an errkind.RetryAfter from a handler reaches the client as RetryInfo, and
// the client waits at least that long before it retries.
func TestRetriesHonourThePlatformServersRetryAfter(t *testing.T) {
	t.Parallel()
	impl := &ratelimited{limited: 1}
	var base config.Base
	base.SetDefaults("inventory", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	app, err := server.New(base, &base, slog.New(slog.NewJSONHandler(io.Discard, nil)), telemetry.NewRegistry(), sdktrace.NewTracerProvider(),
		server.WithService(server.Service{Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: impl}))
	require.NoError(t, err)
	require.NoError(t, app.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})

	var slept sleeps
	conn, err := client.Dial(app.GRPCAddr(), client.WithTimeout(5*time.Second), client.WithJitter(half), client.WithSleep(slept.sleep),
		client.WithRetry(inventoryv1.InventoryService_GetProduct_FullMethodName))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	resp, err := inventoryv1.NewInventoryServiceClient(conn).GetProduct(t.Context(), &inventoryv1.GetProductRequest{Id: "mug"})
	require.NoError(t, err)
	assert.Equal(t, "mug", resp.GetProduct().GetId())
	assert.EqualValues(t, 2, impl.calls.Load())
	assert.Equal(t, ms(40), slept.all(), "the server's 40 ms beat the 5 ms backoff")

	t.Run("a limit that holds reaches the caller after one retry", func(t *testing.T) {
		impl.calls.Store(0)
		impl.limited = 100
		defer func() { impl.limited = 1 }()
		_, err := inventoryv1.NewInventoryServiceClient(conn).GetProduct(t.Context(), &inventoryv1.GetProductRequest{Id: "mug"})
		assert.Equal(t, codes.ResourceExhausted, status.Code(err))
		assert.EqualValues(t, 2, impl.calls.Load())
	})

	t.Run("with one attempt the caller sees the limit", func(t *testing.T) {
		impl.calls.Store(0)
		once, err := client.Dial(app.GRPCAddr(), client.WithRetry(inventoryv1.InventoryService_GetProduct_FullMethodName), client.WithRetryAttempts(1))
		require.NoError(t, err)
		t.Cleanup(func() { _ = once.Close() })
		_, err = inventoryv1.NewInventoryServiceClient(once).GetProduct(t.Context(), &inventoryv1.GetProductRequest{Id: "mug"})
		assert.Equal(t, codes.ResourceExhausted, status.Code(err))
		assert.EqualValues(t, 1, impl.calls.Load())
	})
}
