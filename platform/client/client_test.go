package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

const (
	methodCheck = "/grpc.health.v1.Health/Check" // made retryable in tests
	// methodAgent is the method the peers' auth hooks judge every call as:
	// one that lets the order service act for a user (health checks are
	// always Public, which lets no service act for anyone).
	methodAgent = "/slipway.test.v1.Peer/Agent"
	methodList  = "/grpc.health.v1.Health/List" // never retryable
)

// peer is a real gRPC server that fails the first calls it is told to fail
// and records what each call carried.
type peer struct {
	healthpb.UnimplementedHealthServer
	failures atomic.Int32 // calls left to fail with failCode
	failCode codes.Code
	checks   atomic.Int32
	lists    atomic.Int32

	mu    sync.Mutex
	calls []call
}

// call is what the peer saw of one call.
type call struct {
	md          metadata.MD
	deadline    time.Time
	hasDeadline bool
	claims      auth.Claims
	hasClaims   bool
}

func (p *peer) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	p.checks.Add(1)
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, p.serve(ctx)
}

func (p *peer) List(ctx context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	p.lists.Add(1)
	return &healthpb.HealthListResponse{}, p.serve(ctx)
}

func (p *peer) serve(ctx context.Context) error {
	c := call{}
	c.md, _ = metadata.FromIncomingContext(ctx)
	c.deadline, c.hasDeadline = ctx.Deadline()
	c.claims, c.hasClaims = auth.FromContext(ctx)
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	if p.failures.Add(-1) >= 0 {
		return status.Error(p.failCode, "injected failure")
	}
	return nil
}

func (p *peer) last(t *testing.T) call {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NotEmpty(t, p.calls)
	return p.calls[len(p.calls)-1]
}

// fail makes the next n calls fail with code.
func (p *peer) fail(n int32, code codes.Code) {
	p.failCode = code
	p.failures.Store(n)
}

// startPeer serves p on a free port with the given server options.
func startPeer(t *testing.T, p *peer, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, target string, opts ...client.Option) healthpb.HealthClient {
	t.Helper()
	conn, err := client.Dial(target, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func TestRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		failures  int32
		code      codes.Code
		wantCode  codes.Code
		wantCalls int32
	}{
		{"retryable method recovers after UNAVAILABLE", methodCheck, 2, codes.Unavailable, codes.OK, 3},
		{"retryable method gives up after the default 8 attempts", methodCheck, 10, codes.Unavailable, codes.Unavailable, 8},
		{"other codes are not retried", methodCheck, 1, codes.Internal, codes.Internal, 1},
		{"non-retryable method is tried once", methodList, 2, codes.Unavailable, codes.Unavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &peer{}
			hc := dial(t, startPeer(t, p), client.WithRetry(methodCheck), client.WithTimeout(5*time.Second))
			p.fail(tt.failures, tt.code)

			var err error
			if tt.method == methodCheck {
				_, err = hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
			} else {
				_, err = hc.List(t.Context(), &healthpb.HealthListRequest{})
			}
			assert.Equal(t, tt.wantCode, status.Code(err), "err: %v", err)
			assert.Equal(t, tt.wantCalls, p.checks.Load()+p.lists.Load(), "attempts that reached the server")
		})
	}

	t.Run("without WithRetry nothing is retried", func(t *testing.T) {
		t.Parallel()
		p := &peer{}
		hc := dial(t, startPeer(t, p))
		p.fail(1, codes.Unavailable)
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
		assert.EqualValues(t, 1, p.checks.Load())
	})
}

func TestDialRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Reserve", "slipway.inventory.v1.InventoryService/Reserve", "/slipway.inventory.v1.InventoryService", "/slipway.inventory.v1.InventoryService/", "//Reserve", "/a/b/c"} {
		t.Run(name, func(t *testing.T) {
			_, err := client.Dial("127.0.0.1:1", client.WithRetry(name))
			assert.ErrorContains(t, err, "want a full method name")
		})
	}
	_, err := client.Dial("127.0.0.1:1", client.WithTimeout(-time.Second))
	assert.ErrorContains(t, err, "must not be negative")
}

func TestDefaultDeadline(t *testing.T) {
	t.Parallel()
	p := &peer{}
	addr := startPeer(t, p)
	const timeout = 2 * time.Second
	withDefault := dial(t, addr, client.WithTimeout(timeout))

	tests := []struct {
		name   string
		hc     healthpb.HealthClient
		caller time.Duration // 0: no deadline
		want   time.Duration // 0: none expected
	}{
		{"applied when the caller set none", withDefault, 0, timeout},
		{"a shorter caller deadline wins", withDefault, 300 * time.Millisecond, 300 * time.Millisecond},
		{"a longer caller deadline is kept", withDefault, time.Minute, time.Minute},
		{"no default without WithTimeout", dial(t, addr), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.caller > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.caller)
				defer cancel()
			}
			start := time.Now()
			_, err := tt.hc.Check(ctx, &healthpb.HealthCheckRequest{})
			require.NoError(t, err)
			got := p.last(t)
			if tt.want == 0 {
				assert.False(t, got.hasDeadline, "deadline %v", got.deadline)
				return
			}
			require.True(t, got.hasDeadline)
			assert.WithinDuration(t, start.Add(tt.want), got.deadline, 200*time.Millisecond)
		})
	}

	t.Run("the default deadline ends a slow call", func(t *testing.T) {
		slow := &slowPeer{}
		hc := dial(t, startPeer(t, &slow.peer, grpc.UnaryInterceptor(slow.intercept)), client.WithTimeout(100*time.Millisecond))
		start := time.Now()
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
		assert.Less(t, time.Since(start), time.Second)
	})
}

// slowPeer answers every call after 3 s, unless the call's deadline comes first.
type slowPeer struct {
	peer
}

func (s *slowPeer) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return handler(ctx, req)
}

// tokenFunc adapts a function to client.TokenSource.
type tokenFunc func(context.Context) (string, error)

func (f tokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

func TestTokenSourceIdentifiesServiceAndUser(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	verifier := auth.NewKeyVerifier(key.Public().(ed25519.PublicKey), auth.DefaultIssuer)
	authenticate := auth.Authenticate(verifier, auth.Policy{methodAgent: auth.Internal.For("order")})

	// The peer authenticates exactly as every Slipway service does.
	p := &peer{}
	addr := startPeer(t, p, grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authenticate(ctx, methodAgent)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}))
	// The order service's real token source: logs in once, caches the token.
	var logins atomic.Int32
	tokens := auth.NewLoginTokenSource(func(context.Context) (string, time.Time, error) {
		logins.Add(1)
		return signer.Sign(auth.Claims{Subject: "order", Email: "order@" + auth.ServiceAccountDomain, Role: auth.RoleService})
	})
	hc := dial(t, addr, client.WithTokenSource(tokens))

	alice := auth.Claims{Subject: "alice", Role: auth.RoleCustomer}
	tests := []struct {
		name    string
		ctx     context.Context
		wantOBO string
	}{
		{"for the signed-in user", auth.WithClaims(t.Context(), alice), "alice"},
		{"for the user another service acts for", auth.WithClaims(t.Context(), auth.Claims{Subject: "gateway", Role: auth.RoleService, OnBehalfOf: "bob"}), "bob"},
		{"a service calling for itself names nobody", auth.WithClaims(t.Context(), auth.Claims{Subject: "notification", Role: auth.RoleService}), ""},
		{"outside any request", t.Context(), ""},
		{"a forged outgoing header is replaced", metadata.AppendToOutgoingContext(auth.WithClaims(t.Context(), alice), auth.OnBehalfOfHeader, "mallory"), "alice"},
		{"a forged outgoing header without a user is dropped", metadata.AppendToOutgoingContext(t.Context(), auth.OnBehalfOfHeader, "mallory"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hc.Check(tt.ctx, &healthpb.HealthCheckRequest{})
			require.NoError(t, err)
			got := p.last(t)
			require.True(t, got.hasClaims)
			assert.Equal(t, "order", got.claims.Subject)
			assert.Equal(t, auth.RoleService, got.claims.Role)
			assert.Equal(t, tt.wantOBO, got.claims.OnBehalfOf)
			assert.Len(t, got.md.Get("authorization"), 1)
			if tt.wantOBO == "" {
				assert.Empty(t, got.md.Get(auth.OnBehalfOfHeader))
			} else {
				assert.Equal(t, []string{tt.wantOBO}, got.md.Get(auth.OnBehalfOfHeader))
			}
		})
	}
	assert.EqualValues(t, 1, logins.Load(), "every call reused one login")

	t.Run("a token source failure is Unavailable and reaches no server", func(t *testing.T) {
		before := p.checks.Load()
		hc := dial(t, addr, client.WithTokenSource(tokenFunc(func(context.Context) (string, error) {
			return "", errors.New("user service down")
		})))
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
		assert.Contains(t, status.Convert(err).Message(), "user service down")
		assert.Equal(t, before, p.checks.Load())
	})

	t.Run("a caller that gives up while the token is fetched gets its own error", func(t *testing.T) {
		hc := dial(t, addr, client.WithTokenSource(tokenFunc(func(ctx context.Context) (string, error) {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(3 * time.Second):
				return "", errors.New("login too slow")
			}
		})), client.WithTimeout(50*time.Millisecond))
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "the default deadline bounds the token fetch too")
	})
}

func TestRequestIDIsForwarded(t *testing.T) {
	t.Parallel()
	p := &peer{}
	hc := dial(t, startPeer(t, p))

	in := metadata.NewIncomingContext(t.Context(), metadata.Pairs("x-request-id", "req-0123456789"))
	_, err := hc.Check(in, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, []string{"req-0123456789"}, p.last(t).md.Get("x-request-id"))

	out := metadata.AppendToOutgoingContext(in, "x-request-id", "chosen-by-caller")
	_, err = hc.Check(out, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, []string{"chosen-by-caller"}, p.last(t).md.Get("x-request-id"), "an explicit outgoing id wins")

	_, err = hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Empty(t, p.last(t).md.Get("x-request-id"))
}

func TestTraceContextPropagates(t *testing.T) {
	t.Parallel()
	clientSpans, serverSpans := tracetest.NewInMemoryExporter(), tracetest.NewInMemoryExporter()
	clientTP := sdktrace.NewTracerProvider(sdktrace.WithSyncer(clientSpans))
	serverTP := sdktrace.NewTracerProvider(sdktrace.WithSyncer(serverSpans))
	addr := startPeer(t, &peer{}, grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(serverTP), otelgrpc.WithPropagators(telemetry.Propagator()))))
	hc := dial(t, addr, client.WithTracerProvider(clientTP))

	ctx, parent := clientTP.Tracer("test").Start(t.Context(), "handle request")
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	parent.End()

	var clientSpan, serverSpan tracetest.SpanStub
	for _, s := range clientSpans.GetSpans() {
		if s.SpanKind == trace.SpanKindClient {
			clientSpan = s
		}
	}
	require.Eventually(t, func() bool {
		for _, s := range serverSpans.GetSpans() {
			if s.SpanKind == trace.SpanKindServer {
				serverSpan = s
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "the server ends its span just after answering")

	require.True(t, clientSpan.SpanContext.IsValid(), "a client span was recorded")
	assert.Equal(t, "grpc.health.v1.Health/Check", clientSpan.Name)
	assert.Equal(t, parent.SpanContext().TraceID(), clientSpan.SpanContext.TraceID(), "the client span joins the caller's trace")
	assert.Equal(t, clientSpan.SpanContext.TraceID(), serverSpan.SpanContext.TraceID(), "the server continues the client's trace")
	assert.Equal(t, clientSpan.SpanContext.SpanID(), serverSpan.Parent.SpanID(), "the server span is the client span's child")
	assert.True(t, serverSpan.Parent.IsRemote())
}
