package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// relay is a handler that, like order calling inventory, calls a peer while
// serving a request.
type relay struct {
	inventoryv1.UnimplementedInventoryServiceServer
	peer healthpb.HealthClient
}

func (r *relay) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	if _, err := r.peer.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		return nil, err
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId()}}, nil
}

// TestCallFromInsideAServedRequest runs a handler on the real platform server
// chain that calls a peer through Dial, and checks what reaches the peer: the
// request id the chain assigned, the caller's trace, and the signed-in user
// on whose behalf the service calls.
func TestCallFromInsideAServedRequest(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	verifier := auth.NewKeyVerifier(key.Public().(ed25519.PublicKey), auth.DefaultIssuer)
	authenticate := auth.Authenticate(verifier, auth.Policy{})
	peerAuthenticate := auth.Authenticate(verifier, auth.Policy{methodAgent: auth.Internal.For("order")})

	peerSpans := tracetest.NewInMemoryExporter()
	p := &peer{}
	peerAddr := startPeer(t, p,
		grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(peerSpans))),
			otelgrpc.WithPropagators(telemetry.Propagator()))),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			ctx, err := peerAuthenticate(ctx, methodAgent)
			if err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}))

	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	tokens := auth.NewLoginTokenSource(func(context.Context) (string, time.Time, error) {
		return signer.Sign(auth.Claims{Subject: "order", Email: "order@" + auth.ServiceAccountDomain, Role: auth.RoleService})
	})
	conn, err := client.Dial(peerAddr, client.WithTracerProvider(tp), client.WithTokenSource(tokens), client.WithTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	var base config.Base
	base.SetDefaults("relay", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	app, err := server.New(base, &base, slog.New(slog.NewJSONHandler(io.Discard, nil)), telemetry.NewRegistry(), tp,
		server.WithService(server.Service{Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: &relay{peer: healthpb.NewHealthClient(conn)}}),
		server.WithAuth(authenticate))
	require.NoError(t, err)
	require.NoError(t, app.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})

	front, err := grpc.NewClient(app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = front.Close() })
	userToken, _, err := signer.Sign(auth.Claims{Subject: "alice", Role: auth.RoleCustomer})
	require.NoError(t, err)
	var header metadata.MD
	require.Eventually(t, func() bool {
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+userToken)
		_, err := inventoryv1.NewInventoryServiceClient(front).GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "mug"}, grpc.Header(&header))
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "the relay never answered")

	got := p.last(t)
	requestID := header.Get("x-request-id")
	require.Len(t, requestID, 1, "the chain assigned a request id")
	assert.Equal(t, requestID, got.md.Get("x-request-id"), "the peer sees the same request id")
	require.True(t, got.hasClaims)
	assert.Equal(t, "order", got.claims.Subject)
	assert.Equal(t, "alice", got.claims.OnBehalfOf)
	assert.Equal(t, "alice", auth.Actor(got.claims))

	var relaySpan tracetest.SpanStub
	require.Eventually(t, func() bool {
		for _, s := range spans.GetSpans() {
			if s.SpanKind == trace.SpanKindServer && s.Name == "slipway.inventory.v1.InventoryService/GetProduct" {
				relaySpan = s
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(peerSpans.GetSpans()) > 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, relaySpan.SpanContext.TraceID(), peerSpans.GetSpans()[0].SpanContext.TraceID(), "one trace from the relay's server span to the peer")
}
