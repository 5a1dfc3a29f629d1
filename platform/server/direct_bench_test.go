//go:build unix

package server

// BenchmarkHTTPPaths measures, on one App and side by side, the HTTP paths
// the listener uses against the ones it could use instead, each from many
// goroutines at once (ns/op is the inverse of throughput):
//
//   - path=grpc: native gRPC on the gRPC port, the yardstick.
//   - path=rest-gateway: REST as served, grpc-gateway calling the handler in
//     process (dispatcher).
//   - path=rest-gateway-untraced: the same gateway on a listener of its own
//     without the otelhttp span, to show what REST's tracing costs.
//   - path=rest-vanguard: REST transcoded by vanguard from the same
//     google.api.http annotations to the in-process gRPC target (the road
//     not taken: its errors are not problem+json).
//   - path=grpc-web-direct: gRPC-Web as served, vanguard to the in-process
//     gRPC target.
//   - path=grpc-web-grpcserver: gRPC-Web through vanguard to
//     grpc.Server.ServeHTTP, as before the dispatcher.
//
//	go test -run '^$' -bench BenchmarkHTTPPaths -count 8 ./server/ > paths.txt
//	benchstat -col /path paths.txt
//
// Besides wall time it reports cpu-ns/op, the process's CPU time per call
// (client and server together).

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

func BenchmarkHTTPPaths(b *testing.B) {
	app := pathsApp(b)
	base := "http://" + app.HTTPAddr()

	direct := newDispatcher(app.opts.services, app.chain.unary)
	target := &grpcTarget{d: direct, tracer: app.tp.Tracer(tracerName), prop: telemetry.Propagator(), codec: app.chain.codec, maxBytes: app.base.MaxMessageBytes}
	untraced := *target // REST is traced by otelhttp, as the gateway is
	untraced.tracer = noop.NewTracerProvider().Tracer("")
	restVanguard, err := vanguard.NewTranscoder([]*vanguard.Service{vanguard.NewService(
		inventoryv1.InventoryService_ServiceDesc.ServiceName, &untraced,
		vanguard.WithTargetProtocols(vanguard.ProtocolGRPC), vanguard.WithTargetCodecs(vanguard.CodecProto), vanguard.WithNoTargetCompression(),
	)}, transcoderOptions(app.base.MaxMessageBytes)...)
	if err != nil {
		b.Fatal(err)
	}
	viaGRPCServer, err := vanguardgrpc.NewTranscoder(app.grpc, transcoderOptions(app.base.MaxMessageBytes)...)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("path=grpc", func(b *testing.B) {
		conn, err := grpc.NewClient(app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		client := inventoryv1.NewInventoryServiceClient(conn)
		runParallel(b, func(ctx context.Context) error {
			resp, err := client.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: benchProductID})
			return checkProduct(resp, err)
		})
	})
	b.Run("path=rest-gateway", func(b *testing.B) { runParallel(b, restCall(benchHTTPClient(b), base)) })
	b.Run("path=rest-gateway-untraced", func(b *testing.B) {
		// The gateway alone, without the otelhttp span: what REST's tracing costs.
		gw := newGatewayMux()
		conn, err := direct.gatewayConn()
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		if err := inventoryv1.RegisterInventoryServiceHandler(context.Background(), gw, conn); err != nil {
			b.Fatal(err)
		}
		runParallel(b, restCall(benchHTTPClient(b), pathsServe(b, gw, "rest")))
	})
	b.Run("path=rest-vanguard", func(b *testing.B) {
		runParallel(b, restCall(benchHTTPClient(b), pathsServe(b, otelhttp.NewHandler(restVanguard, "rest", otelhttp.WithTracerProvider(app.tp)), "rest")))
	})
	b.Run("path=grpc-web-direct", func(b *testing.B) { runParallel(b, grpcWebCall(benchHTTPClient(b), base)) })
	b.Run("path=grpc-web-grpcserver", func(b *testing.B) {
		runParallel(b, grpcWebCall(benchHTTPClient(b), pathsServe(b, viaGRPCServer, "grpc-web")))
	})
}

// pathsApp is an App serving the fixed product as the services build it
// (JSON access log to io.Discard, tracing on, GetProduct public).
func pathsApp(b *testing.B) *App {
	b.Helper()
	var base config.Base
	base.SetDefaults("bench", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	if err := base.Validate(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tp, shutdown, err := telemetry.NewTracerProvider(ctx, base.Service, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	product := newFixedProduct()
	app, err := New(base, &base, telemetry.NewLogger(io.Discard, base.Service, slog.LevelInfo), telemetry.NewRegistry(), tp,
		WithService(Service{Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: product, Gateway: inventoryv1.RegisterInventoryServiceHandler}),
		WithAuth(func(ctx context.Context, _ string) (context.Context, error) { return ctx, nil }))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpc.NewClient(serveForBench(b, app, shutdown), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	waitServing(b, conn)
	return app
}

// serveForBench listens and runs app until the benchmark ends, then stops
// it and shutdown (its tracer provider's); it returns the gRPC address.
func serveForBench(b *testing.B, app *App, shutdown func(context.Context) error) string {
	b.Helper()
	if err := app.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("server stop: %v", err)
		}
		_ = shutdown(context.Background())
	})
	return app.GRPCAddr()
}

// waitServing waits up to 10 s for the health check over conn to answer
// SERVING.
func waitServing(b *testing.B, conn grpc.ClientConnInterface) {
	b.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("not SERVING after 10s: %v %v", resp.GetStatus(), err)
		}
	}
}

// pathsServe serves h on a listener of its own, tagging requests with the
// protocol as the App's listener does, and returns its base URL.
func pathsServe(b *testing.B, h http.Handler, protocol string) string {
	b.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set(protocolHeader, protocol)
		h.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
