package stripe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/services/payment/internal/provider/stripe/stripetest"
)

func recordingProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// A call to Stripe made for a request is a client span, a child of the
// request's span, naming Stripe's host and the route without the object's
// id; a call outside any request makes none.
func TestCallsToStripeAreClientSpans(t *testing.T) {
	mock := stripetest.StartMock(t)
	u, err := url.Parse(mock)
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(u.Host)
	require.NoError(t, err)
	p := newProvider(t, mock)
	tp, rec := recordingProvider(t)

	_, err = p.Authorize(context.Background(), visa("trace-untraced"))
	require.NoError(t, err)
	require.Empty(t, rec.Ended(), "no span without a span in the context")

	ctx, req := tp.Tracer("test").Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	a, err := p.Authorize(ctx, visa("trace-authorize"))
	require.NoError(t, err)
	require.NoError(t, p.Capture(ctx, "trace-capture", a.Ref, 0))
	req.End()

	spans := rec.Ended()
	require.Len(t, spans, 3, "authorize, capture and the request")
	assert.Equal(t, "POST /v1/payment_intents", spans[0].Name())
	assert.Equal(t, "POST /v1/payment_intents/{id}/capture", spans[1].Name())
	for _, s := range spans[:2] {
		assert.Equal(t, trace.SpanKindClient, s.SpanKind(), s.Name())
		assert.Equal(t, req.SpanContext().SpanID(), s.Parent().SpanID(), "%s is a child of the request", s.Name())
		a := map[attribute.Key]string{}
		for _, kv := range s.Attributes() {
			a[kv.Key] = kv.Value.String()
		}
		assert.Equal(t, host, a["server.address"], s.Name())
		assert.Equal(t, port, a["server.port"], s.Name())
		assert.Equal(t, "200", a["http.response.status_code"], s.Name())
	}
}

// The trace context stays inside: Stripe gets no traceparent.
func TestNoTraceContextIsSentToStripe(t *testing.T) {
	headers := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error": {"type": "invalid_request_error", "message": "slow down"}}`))
	}))
	t.Cleanup(srv.Close)
	tp, rec := recordingProvider(t)
	ctx, req := tp.Tracer("test").Start(context.Background(), "request")
	defer req.End()

	_, err := newProvider(t, srv.URL).Authorize(ctx, visa("trace-headers"))
	require.Error(t, err)

	h := <-headers
	assert.Empty(t, h.Get("Traceparent"))
	assert.Empty(t, h.Get("Baggage"))
	require.Len(t, rec.Ended(), 1, "the call was traced all the same")
}
