package redisconn

import (
	"context"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrument makes every command a client span (redisotel), a child of the
// span in the command's context. The command's text stays out of the span
// (keys name users and orders) and so does the caller's file and line,
// whose lookup would cost every command even untraced.
func instrument(client *redis.Client) error {
	return redisotel.InstrumentTracing(client,
		redisotel.WithTracerProvider(parentTracerProvider{}),
		redisotel.WithAttributes(semconv.DBSystemNameRedis),
		redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false),
	)
}

// parentTracerProvider makes spans with the tracer provider of the span in
// the context, so that a command is traced exactly when the request that
// sent it is, by the provider that traces the request (providers are
// passed to what uses them, never installed globally). Without a span in
// the context it makes none.
type parentTracerProvider struct{ embedded.TracerProvider }

// Tracer implements trace.TracerProvider.
func (parentTracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return parentTracer{name: name, opts: opts}
}

type parentTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

// Start implements trace.Tracer.
func (t parentTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, noop.Span{}
	}
	return parent.TracerProvider().Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}
