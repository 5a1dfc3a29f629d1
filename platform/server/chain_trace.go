package server

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// traceWith makes the chain start each call's server span itself, as its
// outermost stage: a child of the caller's trace context, named and
// described as otelgrpc's ("pkg.Service/Method", rpc.* attributes, the
// status code, failed for the codes a server is to blame for). It is the
// lean alternative to otelgrpc's stats handler, which copies the incoming
// metadata and reports every event of a call. A call that already has a
// span of this process (the stats handler's, the HTTP listener's) keeps it
// and gets none from the chain, so the two never both trace a call. Health
// checks are not traced: probes every few seconds would bury the requests.
func (c *chain) traceWith(tracer trace.Tracer, prop propagation.TextMapPropagator) {
	c.tracer, c.propagator = tracer, prop
	c.compose()
}

// tracingStage starts the call's server span (traceWith); without a
// tracer it is no stage.
func (c *chain) tracingStage(next callFunc) callFunc {
	if c.tracer == nil {
		return next
	}
	return func(ctx context.Context, cl *call) (any, error) {
		if sc := trace.SpanContextFromContext(ctx); (sc.IsValid() && !sc.IsRemote()) ||
			strings.HasPrefix(cl.method, "/grpc.health.v1.Health/") {
			return next(ctx, cl)
		}
		ctx = c.propagator.Extract(ctx, incomingCarrier{ctx})
		name := strings.TrimPrefix(cl.method, "/")
		svc, method, _ := strings.Cut(name, "/")
		ctx, span := c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", svc), attribute.String("rpc.method", method),
			attribute.String("network.peer.address", cl.peerAddr(ctx))))
		defer span.End()
		resp, err := next(ctx, cl)
		if err == nil {
			endSpan(span, okStatus)
		} else {
			endSpan(span, status.Convert(err))
		}
		return resp, err
	}
}

// okStatus is the status of every successful call (a Status is read-only).
var okStatus = status.New(0, "")

// incomingCarrier reads the trace headers from the call's incoming
// metadata one key at a time, where metadata.FromIncomingContext would
// copy all of it.
type incomingCarrier struct{ ctx context.Context }

// Get implements propagation.TextMapCarrier.
func (c incomingCarrier) Get(key string) string { return incoming(c.ctx, strings.ToLower(key)) }

// Set implements propagation.TextMapCarrier; the incoming metadata is
// read-only.
func (incomingCarrier) Set(string, string) {}

// Keys implements propagation.TextMapCarrier.
func (c incomingCarrier) Keys() []string {
	md, _ := metadata.FromIncomingContext(c.ctx)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	return keys
}
