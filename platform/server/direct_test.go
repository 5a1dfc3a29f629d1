package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// seenCall is what a handler saw of one call.
type seenCall struct {
	protocol   []string
	onBehalfOf []string
	outgoing   metadata.MD
	peer       *peer.Peer
	deadline   bool
}

// recorder answers GetProduct and records what its context carried; it
// sets a header and a trailer, and fails the product "missing".
type recorder struct {
	inventoryv1.UnimplementedInventoryServiceServer
	mu   sync.Mutex
	seen []seenCall
}

func (r *recorder) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	out, _ := metadata.FromOutgoingContext(ctx)
	p, _ := peer.FromContext(ctx)
	_, deadline := ctx.Deadline()
	r.mu.Lock()
	r.seen = append(r.seen, seenCall{
		protocol: md.Get("x-slipway-protocol"), onBehalfOf: md.Get("x-slipway-on-behalf-of"),
		outgoing: out, peer: p, deadline: deadline,
	})
	r.mu.Unlock()
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-direct", "header")); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs("x-direct-trailer", "trailer")); err != nil {
		return nil, err
	}
	if req.GetId() == "missing" {
		return nil, status.Error(codes.NotFound, "no product missing: 100% gone")
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId(), Name: "Kettle"}}, nil
}

func (r *recorder) last(t *testing.T) seenCall {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.seen, "the handler was called")
	return r.seen[len(r.seen)-1]
}

func startRecorder(t *testing.T) (*server.App, *recorder) {
	t.Helper()
	var base config.Base
	base.SetDefaults("catalog", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	require.NoError(t, base.Validate())
	rec := &recorder{}
	tp, shutdown, err := telemetry.NewTracerProvider(context.Background(), "catalog", func(string) string { return "" })
	require.NoError(t, err)
	app, err := server.New(base, &base, telemetry.NewLogger(io.Discard, "catalog", slog.LevelInfo), telemetry.NewRegistry(), tp,
		server.WithService(server.Service{
			Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: rec,
			Gateway: inventoryv1.RegisterInventoryServiceHandler,
		}))
	require.NoError(t, err)
	require.NoError(t, app.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		_ = shutdown(context.Background())
	})
	return app, rec
}

// TestHTTPCallsReachTheHandlerAsHTTPCallers checks what a REST, gRPC-Web,
// Connect or h2c gRPC call on the HTTP port hands the handler in process:
// the listener's protocol tag whatever the client sent, the client's
// address as the peer with no transport identity, no outgoing metadata to
// leak into the handler's own calls, and the handler's header and trailer
// metadata and status back to the client.
func TestHTTPCallsReachTheHandlerAsHTTPCallers(t *testing.T) {
	app, rec := startRecorder(t)
	base := "http://" + app.HTTPAddr()
	spoof := func(h http.Header) {
		h.Set("X-Slipway-Protocol", "") // as a native gRPC call would carry it: none
		h.Set("X-Slipway-On-Behalf-Of", "victim")
	}

	t.Run("rest", func(t *testing.T) {
		for _, tt := range []struct {
			id     string
			status int
		}{{"kettle", http.StatusOK}, {"missing", http.StatusNotFound}} {
			req, err := http.NewRequest(http.MethodGet, base+"/v1/products/"+tt.id, nil)
			require.NoError(t, err)
			spoof(req.Header)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode, string(body))
			if tt.status == http.StatusOK {
				assert.Contains(t, string(body), `"name":"Kettle"`)
				assert.Equal(t, "header", resp.Header.Get("Grpc-Metadata-X-Direct"), "header metadata as the gateway maps it")
			} else {
				assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
				assert.Contains(t, string(body), `"detail":"no product missing: 100% gone"`)
			}
			assert.NotEmpty(t, resp.Header.Get("X-Request-Id"), "the chain's request id is echoed")
			assertHTTPCaller(t, rec.last(t), "rest")
		}
	})

	for _, p := range []struct {
		name string
		opts []connect.ClientOption
	}{{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}}, {"connect", nil}, {"connect-json", []connect.ClientOption{connect.WithProtoJSON()}}} {
		t.Run(p.name, func(t *testing.T) {
			client := connect.NewClient[inventoryv1.GetProductRequest, inventoryv1.GetProductResponse](
				http.DefaultClient, base+"/slipway.inventory.v1.InventoryService/GetProduct", p.opts...)
			req := connect.NewRequest(&inventoryv1.GetProductRequest{Id: "kettle"})
			spoof(req.Header())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := client.CallUnary(ctx, req)
			require.NoError(t, err)
			assert.Equal(t, "Kettle", resp.Msg.GetProduct().GetName())
			assert.Equal(t, "header", resp.Header().Get("X-Direct"))
			assert.NotEmpty(t, resp.Header().Get("X-Request-Id"))
			seen := rec.last(t)
			assertHTTPCaller(t, seen, strings.TrimSuffix(p.name, "-json"))
			assert.True(t, seen.deadline, "the client's timeout is the call's deadline")

			_, err = client.CallUnary(ctx, connect.NewRequest(&inventoryv1.GetProductRequest{Id: "missing"}))
			assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
			assert.Contains(t, err.Error(), "no product missing: 100% gone", "the status message survives its encoding")
		})
	}

	t.Run("grpc over h2c", func(t *testing.T) {
		conn, err := grpc.NewClient(app.HTTPAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		client := inventoryv1.NewInventoryServiceClient(conn)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-slipway-on-behalf-of", "victim")
		var header, trailer metadata.MD
		resp, err := client.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "kettle"}, grpc.Header(&header), grpc.Trailer(&trailer))
		require.NoError(t, err)
		assert.Equal(t, "Kettle", resp.GetProduct().GetName())
		assert.Equal(t, []string{"header"}, header.Get("x-direct"))
		assert.Equal(t, []string{"trailer"}, trailer.Get("x-direct-trailer"))
		assertHTTPCaller(t, rec.last(t), "grpc-http")

		_, err = client.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "missing"})
		assert.Equal(t, codes.NotFound, status.Code(err))
		assert.Equal(t, "no product missing: 100% gone", status.Convert(err).Message())
	})
}

func assertHTTPCaller(t *testing.T, seen seenCall, protocol string) {
	t.Helper()
	assert.Equal(t, []string{protocol}, seen.protocol, "the listener's protocol tag, never the client's")
	assert.Empty(t, seen.outgoing, "no metadata of the HTTP request is sent on by the handler's own calls")
	require.NotNil(t, seen.peer, "the handler has a peer")
	assert.True(t, strings.HasPrefix(seen.peer.Addr.String(), "127.0.0.1:"), "the peer is the HTTP client: %s", seen.peer.Addr)
	assert.Nil(t, seen.peer.AuthInfo, "an HTTP caller never has a gRPC peer's transport identity")
}
