// Package client is the one way a Slipway service dials a peer: gRPC,
// plaintext or mutual TLS (WithTLS), with round-robin balancing over every resolved address, retries with
// jittered exponential backoff for the idempotent methods the caller names,
// a circuit breaker that fails fast while the peer is down, a default
// deadline, trace propagation, and the caller's service identity (its
// certificate, or a password account's token in plaintext development) plus
// the end user it acts for.
package client

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
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
	attempts    int
	tokens      TokenSource
	tls         credentials.TransportCredentials // nil: plaintext
	reg         prometheus.Registerer
	dialOptions []grpc.DialOption

	// Seams for tests (export_test.go): the backoff's random draw and its
	// wait.
	jitter func() float64
	sleep  func(context.Context, time.Duration) error
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

// WithRetry retries the named methods (full names such as
// "/slipway.inventory.v1.InventoryService/Reserve") when an attempt fails
// with UNAVAILABLE, or with RESOURCE_EXHAUSTED carrying RetryInfo (then no
// sooner than the server asked). Backoff is exponential from 10 ms, doubling
// to at most 100 ms, with full jitter; a retry that could not finish before
// the call's deadline is not made, and the call returns the last error.
// WithRetryAttempts bounds the attempts (8 by default). Name only idempotent
// methods: a retried call may have run on the server before it failed.
// Calls to WithRetry add up.
func WithRetry(methods ...string) Option {
	return func(o *options) { o.retry = append(o.retry, methods...) }
}

// WithRetryAttempts sets how many attempts in all a call to a method named
// in WithRetry gets: 1 makes exactly one attempt (no retries). The default
// is 8.
func WithRetryAttempts(n int) Option {
	return func(o *options) { o.attempts = n }
}

// WithMetrics exports the connection's slipway_client_retries_total,
// slipway_client_circuit_state and slipway_client_circuit_rejected_total
// through reg. Several connections may share one registry.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(o *options) { o.reg = reg }
}

// WithTokenSource authenticates every call as the service whose token ts
// supplies ("authorization: Bearer <token>") and names the end user the
// call is made for (auth.OnBehalfOfHeader), taken from the claims in the
// call's context. A token ts cannot supply fails the call with Unavailable.
func WithTokenSource(ts TokenSource) Option {
	return func(o *options) { o.tokens = ts }
}

// WithTLS makes calls over mutual TLS: the connection presents src's
// certificate, which is the calling service's identity, and trusts a
// server only if its certificate chains to src's authorities and names
// service (spiffe://<trust domain>/<service>), whatever address it was
// reached at; with service "", the certificate must name the target's host
// instead. Each call names the end user it is made for
// (auth.OnBehalfOfHeader), as WithTokenSource does. A nil src (TLS off)
// leaves the connection plaintext.
func WithTLS(src *tlsconfig.Source, service string) Option {
	return func(o *options) {
		if src != nil {
			o.tls = src.ClientCredentials(service)
		}
	}
}

// WithDialOptions adds grpc dial options after Dial's own, so they win
// where they overlap (transport credentials, for example).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// Dial returns a client connection to target: a static "host:port" (or any
// grpc target, such as "dns:///inventory:50053"), a comma-separated list of
// host:port addresses (every instance of the peer: calls are spread round
// robin over those that are up, and WithRetry's retry of an UNAVAILABLE
// attempt goes to another instance), or discovery.Target(service)
// together with WithDialOptions(discovery.Resolver(cli)). Like grpc.NewClient
// it does not connect until the first call. Every call forwards the request
// id of the request it is made in (x-request-id). Every unary attempt passes
// the connection's circuit breaker (gobreaker): a failed attempt opens it
// when at least 20 attempts in 10 s were made and 90 % of them failed with
// UNAVAILABLE or DEADLINE_EXCEEDED; calls then fail fast with UNAVAILABLE
// "circuit to <target> is open" for 2 s, and then one probe goes through
// and its outcome closes or reopens the circuit.
func Dial(target string, opts ...Option) (*grpc.ClientConn, error) {
	o := options{attempts: defaultRetryAttempts, jitter: defaultJitter, sleep: sleep}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("client: dial %s: timeout %s must not be negative", target, o.timeout)
	}
	if o.attempts < 1 {
		return nil, fmt.Errorf("client: dial %s: retry attempts %d: want at least 1 (1 means no retries)", target, o.attempts)
	}
	methods := make(map[string]bool, len(o.retry))
	for _, m := range o.retry {
		if err := checkMethod(m); err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", target, err)
		}
		methods[m] = true
	}
	metrics, err := newClientMetrics(o.reg)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: metrics: %w", target, err)
	}
	metrics.declare(target, methods)
	retry := &retrier{
		peer: target, methods: methods, attempts: o.attempts,
		breaker: newBreaker(target, metrics.onCircuit(target)),
		metrics: metrics, jitter: o.jitter, sleep: o.sleep,
	}
	md := outgoingMetadata{tokens: o.tokens, certified: o.tls != nil}
	unary := []grpc.UnaryClientInterceptor{}
	if o.timeout > 0 {
		// Outermost, so that fetching a token and every retry count against the deadline too.
		unary = append(unary, defaultDeadline(o.timeout))
	}
	unary = append(unary, md.unary, retry.unary)
	creds := o.tls
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	dialOptions := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// Resolver-supplied configs (DNS TXT records) are ignored: the
		// balancing policy is the caller's decision, made here.
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(md.stream),
	}
	if o.tp != nil {
		dialOptions = append(dialOptions, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(o.tp),
			otelgrpc.WithPropagators(telemetry.Propagator()),
		)))
	}
	dialTarget := target
	if IsAddressList(target) {
		t, list, err := listTarget(target)
		if err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", target, err)
		}
		dialTarget = t
		dialOptions = append(dialOptions, list...)
	}
	dialOptions = append(dialOptions, o.dialOptions...)
	conn, err := grpc.NewClient(dialTarget, dialOptions...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", target, err)
	}
	return conn, nil
}
