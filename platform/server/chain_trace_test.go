package server

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// tracedChain is testChain with the tracing stage on, recording its spans.
func tracedChain(t *testing.T, log *bytes.Buffer) (*chain, *tracetest.SpanRecorder) {
	t.Helper()
	c, _ := testChain(t, log, config.AccessLog{})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	c.traceWith(tp.Tracer(tracerName), telemetry.Propagator())
	return c, rec
}

func TestChainTracing(t *testing.T) {
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}

	t.Run("a span per call, child of the caller's", func(t *testing.T) {
		var log bytes.Buffer
		c, rec := tracedChain(t, &log)
		var inHandler trace.SpanContext
		handler := func(ctx context.Context, _ any) (any, error) {
			inHandler = trace.SpanContextFromContext(ctx)
			return &inventoryv1.GetProductResponse{}, nil
		}
		_, err := c.unary(callContext(t, metadata.Pairs("traceparent", parent), &headerStream{}), req, getProduct, handler)
		require.NoError(t, err)

		spans := rec.Ended()
		require.Len(t, spans, 1)
		span := spans[0]
		assert.Equal(t, "slipway.inventory.v1.InventoryService/GetProduct", span.Name())
		assert.Equal(t, trace.SpanKindServer, span.SpanKind())
		assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", span.SpanContext().TraceID().String(), "the caller's trace")
		assert.Equal(t, "b7ad6b7169203331", span.Parent().SpanID().String(), "the caller's span is the parent")
		assert.Equal(t, span.SpanContext(), inHandler, "the handler runs in the span")
		assert.ElementsMatch(t, []attribute.KeyValue{
			attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", "slipway.inventory.v1.InventoryService"),
			attribute.String("rpc.method", "GetProduct"),
			attribute.String("network.peer.address", "127.0.0.1:41234"),
			attribute.Int("rpc.grpc.status_code", 0),
		}, span.Attributes())
		assert.Equal(t, otelcodes.Unset, span.Status().Code)
		assert.Contains(t, log.String(), `"trace_id":"0af7651916cd43dd8448eb211c80319c"`, "the access log line joins the trace")
	})

	t.Run("failures the server is to blame for mark the span failed", func(t *testing.T) {
		c, rec := tracedChain(t, &bytes.Buffer{})
		for _, err := range []error{errkind.NotFound, errors.New("disk on fire")} {
			_, _ = c.unary(callContext(t, nil, &headerStream{}), req, getProduct, answer(nil, err))
		}
		spans := rec.Ended()
		require.Len(t, spans, 2)
		assert.Contains(t, spans[0].Attributes(), attribute.Int("rpc.grpc.status_code", 5))
		assert.Equal(t, otelcodes.Unset, spans[0].Status().Code, "NotFound is the caller's doing")
		assert.Contains(t, spans[1].Attributes(), attribute.Int("rpc.grpc.status_code", 13))
		assert.Equal(t, sdktrace.Status{Code: otelcodes.Error, Description: "internal error"}, spans[1].Status())
	})

	t.Run("a call already traced here gets no second span", func(t *testing.T) {
		c, rec := tracedChain(t, &bytes.Buffer{})
		outer := sdktrace.NewTracerProvider()
		ctx, span := outer.Tracer("transport").Start(callContext(t, nil, &headerStream{}), "outer")
		var inHandler trace.SpanContext
		handler := func(ctx context.Context, _ any) (any, error) {
			inHandler = trace.SpanContextFromContext(ctx)
			return &inventoryv1.GetProductResponse{}, nil
		}
		_, err := c.unary(ctx, req, getProduct, handler)
		span.End()
		require.NoError(t, err)
		assert.Empty(t, rec.Ended())
		assert.Equal(t, span.SpanContext(), inHandler)
	})

	t.Run("health checks are not traced", func(t *testing.T) {
		c, rec := tracedChain(t, &bytes.Buffer{})
		check := &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}
		_, err := c.unary(callContext(t, nil, &headerStream{}), nil, check, answer(nil, nil))
		require.NoError(t, err)
		assert.Empty(t, rec.Ended())
	})
}
