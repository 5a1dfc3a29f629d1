// Package client is the one way a Slipway service dials a peer: plaintext
// gRPC with round-robin balancing over every resolved address, retries on
// UNAVAILABLE for the idempotent methods the caller names, a default
// deadline, trace propagation, and the caller's service credentials plus the
// end user it acts for.
package client

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

// TokenSource supplies the bearer token a service presents to its peers;
// auth.LoginTokenSource is the implementation services use.
type TokenSource interface {
	// Token returns a token valid for the call about to be made.
	Token(ctx context.Context) (string, error)
}

// Option configures Dial.
type Option func(*options)

type options struct {
	tp          trace.TracerProvider
	timeout     time.Duration
	retry       []string
	tokens      TokenSource
	dialOptions []grpc.DialOption
}

// WithTracerProvider traces every call with a client span from tp and sends
// its W3C trace context to the peer, so the peer's server span continues the
// caller's trace.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// WithTimeout gives every unary call whose context has no deadline one of d
// from the start of the call; a deadline the caller set, longer or shorter,
// is kept. Streams are exempt: they may be long-lived by design.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithRetry makes grpc-go retry the named methods (full names such as
// "/slipway.inventory.v1.InventoryService/Reserve") when an attempt fails
// with UNAVAILABLE: up to 4 attempts in all, with exponential backoff from
// 50 ms doubling to at most 1 s, jittered by grpc-go. Name only idempotent
// methods: a retried call may have run on the server before it failed.
// Calls to WithRetry add up.
func WithRetry(methods ...string) Option {
	return func(o *options) { o.retry = append(o.retry, methods...) }
}

// WithTokenSource authenticates every call as the service whose token ts
// supplies ("authorization: Bearer <token>") and names the end user the
// call is made for (auth.OnBehalfOfHeader), taken from the claims in the
// call's context. A token ts cannot supply fails the call with Unavailable.
func WithTokenSource(ts TokenSource) Option {
	return func(o *options) { o.tokens = ts }
}

// WithDialOptions adds grpc dial options after Dial's own, so they win
// where they overlap (transport credentials, for example).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// Dial returns a client connection to target: a static "host:port" (or any
// grpc target, such as "dns:///inventory:50053") or discovery.Target(service)
// together with WithDialOptions(discovery.Resolver(cli)). Like grpc.NewClient
// it does not connect until the first call. Every call forwards the request
// id of the request it is made in (x-request-id).
func Dial(target string, opts ...Option) (*grpc.ClientConn, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("client: dial %s: timeout %s must not be negative", target, o.timeout)
	}
	sc, err := serviceConfig(o.retry)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", target, err)
	}
	md := outgoingMetadata{tokens: o.tokens}
	unary := []grpc.UnaryClientInterceptor{}
	if o.timeout > 0 {
		// Outermost, so that fetching a token counts against the deadline too.
		unary = append(unary, defaultDeadline(o.timeout))
	}
	unary = append(unary, md.unary)
	dialOptions := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Resolver-supplied configs (DNS TXT records) are ignored: the
		// balancing and retry policy is the caller's decision, made here.
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultServiceConfig(sc),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(md.stream),
	}
	if o.tp != nil {
		dialOptions = append(dialOptions, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(o.tp),
			otelgrpc.WithPropagators(telemetry.Propagator()),
		)))
	}
	dialOptions = append(dialOptions, o.dialOptions...)
	conn, err := grpc.NewClient(target, dialOptions...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", target, err)
	}
	return conn, nil
}
