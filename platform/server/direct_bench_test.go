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
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

const pathsProductID = "espresso-blend-1kg"

type pathsProduct struct {
	inventoryv1.UnimplementedInventoryServiceServer
	resp *inventoryv1.GetProductResponse
}

func (p *pathsProduct) GetProduct(context.Context, *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	return p.resp, nil
}

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
		pathsParallel(b, func(ctx context.Context) error {
			resp, err := client.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: pathsProductID})
			return pathsCheck(resp, err)
		})
	})
	b.Run("path=rest-gateway", func(b *testing.B) { pathsParallel(b, pathsREST(b, base)) })
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
		pathsParallel(b, pathsREST(b, pathsServe(b, gw, "rest")))
	})
	b.Run("path=rest-vanguard", func(b *testing.B) {
		pathsParallel(b, pathsREST(b, pathsServe(b, otelhttp.NewHandler(restVanguard, "rest", otelhttp.WithTracerProvider(app.tp)), "rest")))
	})
	b.Run("path=grpc-web-direct", func(b *testing.B) { pathsParallel(b, pathsGRPCWeb(b, base)) })
	b.Run("path=grpc-web-grpcserver", func(b *testing.B) {
		pathsParallel(b, pathsGRPCWeb(b, pathsServe(b, viaGRPCServer, "grpc-web")))
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
	product := &pathsProduct{resp: &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{
		Id: pathsProductID, Name: "Espresso blend, 1 kg", Description: "Dark roast for espresso",
		Price: &moneyv1.Money{Currency: "EUR", AmountMinor: 2450}, Stock: 60,
	}}}
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

func pathsHTTPClient(b *testing.B) *http.Client {
	b.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func pathsREST(b *testing.B, base string) func(context.Context) error {
	hc, url := pathsHTTPClient(b), base+"/v1/products/"+pathsProductID
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return &pathsError{resp.Status + ": " + string(body)}
		}
		var out inventoryv1.GetProductResponse
		if err := protojson.Unmarshal(body, &out); err != nil {
			return err
		}
		return pathsCheck(&out, nil)
	}
}

func pathsGRPCWeb(b *testing.B, base string) func(context.Context) error {
	client := connect.NewClient[inventoryv1.GetProductRequest, inventoryv1.GetProductResponse](pathsHTTPClient(b),
		base+"/"+inventoryv1.InventoryService_ServiceDesc.ServiceName+"/GetProduct", connect.WithGRPCWeb())
	return func(ctx context.Context) error {
		resp, err := client.CallUnary(ctx, connect.NewRequest(&inventoryv1.GetProductRequest{Id: pathsProductID}))
		if err != nil {
			return err
		}
		return pathsCheck(resp.Msg, nil)
	}
}

type pathsError struct{ msg string }

func (e *pathsError) Error() string { return e.msg }

func pathsCheck(resp *inventoryv1.GetProductResponse, err error) error {
	if err != nil {
		return err
	}
	if id := resp.GetProduct().GetId(); !strings.EqualFold(id, pathsProductID) {
		return &pathsError{"wrong product " + id}
	}
	return nil
}

// pathsParallel makes b.N calls from 8 goroutines per GOMAXPROCS, as
// BenchmarkProtocols does, and reports req/s.
func pathsParallel(b *testing.B, call func(context.Context) error) {
	b.Helper()
	ctx := context.Background()
	if err := call(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	start := pathsCPUTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(pathsCPUTime()-start)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// pathsCPUTime is the CPU time (user and system) the process has used: on
// a busy machine, CPU per call says more than wall time per call.
func pathsCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
