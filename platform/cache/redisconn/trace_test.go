package redisconn_test

import (
	"context"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/platform/cache/redistest"
)

// A command sent for a request is a client span of Redis, a child of the
// request's span; without one, no span is made.
func TestCommandsAreSpansOfTheRequest(t *testing.T) {
	url, prefix := redistest.URL(t)
	c, _, _ := open(t, url)
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	host, _, err := net.SplitHostPort(opts.Addr)
	require.NoError(t, err)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	// Dial outside the request, so the request's spans are its commands.
	require.NoError(t, c.Do(t.Context(), set(prefix+"warm")))
	require.Empty(t, rec.Ended(), "no span without a span in the context")

	ctx, req := tp.Tracer("test").Start(t.Context(), "request", trace.WithSpanKind(trace.SpanKindServer))
	require.NoError(t, c.Do(ctx, set(prefix+"k")))
	err = c.Do(ctx, func(ctx context.Context, r *redis.Client) error { return r.LPush(ctx, prefix+"k", "x").Err() })
	require.Error(t, err, "LPUSH on a string is WRONGTYPE")
	req.End()

	spans := rec.Ended()
	require.Len(t, spans, 3, "SET, LPUSH and the request")
	assert.Equal(t, []string{"set", "lpush"}, []string{spans[0].Name(), spans[1].Name()})
	for _, s := range spans[:2] {
		assert.Equal(t, trace.SpanKindClient, s.SpanKind(), s.Name())
		assert.Equal(t, req.SpanContext().SpanID(), s.Parent().SpanID(), "%s is a child of the request", s.Name())
		a := map[attribute.Key]string{}
		for _, kv := range s.Attributes() {
			a[kv.Key] = kv.Value.String()
		}
		assert.Equal(t, "redis", a["db.system.name"], s.Name())
		assert.Equal(t, host, a["server.address"], s.Name())
		assert.NotContains(t, a, attribute.Key("db.statement"), "the command's keys and values stay out of the span")
		assert.NotContains(t, a, attribute.Key("code.function"), "no caller lookup")
	}
	assert.Equal(t, codes.Unset, spans[0].Status().Code)
	assert.Equal(t, codes.Error, spans[1].Status().Code, "a WRONGTYPE reply is an error of the span")
}
