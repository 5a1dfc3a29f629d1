package server_test

// Benchmarks of the platform's request path, over real loopback TCP:
//
//   - BenchmarkUnary: one unary RPC (inventory GetProduct answered from
//     memory) on a bare grpc-go server and on the platform server with its
//     whole chain (request id, metrics, access log, recovery, deadline, auth,
//     protovalidate, faults, otelgrpc tracing). One call at a time, so ns/op
//     is the latency of a call and the difference is the chain's cost.
//   - BenchmarkUnary/server=platform-sampled: the platform call as a busy
//     production service would set it (benchSampled): 1 % of the successful
//     fast calls logged, 1 % of new traces recorded.
//   - BenchmarkUnary/server=platform-tls: the same platform call over TLS 1.3
//     with mTLS, on a connection whose handshake is done before the timing:
//     against server=platform, the per-call cost of TLS.
//   - BenchmarkProtocols: the same call on the platform server over native
//     gRPC, REST (grpc-gateway, JSON over HTTP/1.1 keep-alive) and gRPC-Web
//     (vanguard, connect-go client), from many goroutines at once, so ns/op is
//     the inverse of throughput (req/s is reported too).
//
// Sub-benchmarks are named key=value so benchstat can put them side by side:
//
//	benchstat -col /server bench.txt     # platform vs bare: the overhead
//	benchstat -filter '/server:(platform OR platform-tls)' -col /server bench.txt  # TLS per call
//	benchstat -col /protocol bench.txt   # rest and grpc-web vs grpc
//
// Client and server share the process, so every ns/op includes the client's
// cost of the protocol as well as the server's. Besides wall time, each
// benchmark reports cpu-ns/op, the process's CPU time (user and system) per
// call: on a busy machine wall time also measures the wait for a CPU, while
// CPU time per call is what bounds throughput on a dedicated one.

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// The shared benchmark helpers live in the package's internal test files
// (benchcalls_test.go), where BenchmarkHTTPPaths uses them too.
const benchProductID = server.BenchProductID

var (
	newFixedProduct = server.NewFixedProduct
	benchHTTPClient = server.BenchHTTPClient
	grpcCall        = server.GRPCCall
	restCall        = server.RESTCall
	grpcWebCall     = server.GRPCWebCall
	runSerial       = server.RunSerial
	runParallel     = server.RunParallel
)

// benchBare serves the product on a grpc-go server with no options at all.
func benchBare(b *testing.B) string {
	b.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	inventoryv1.RegisterInventoryServiceServer(srv, newFixedProduct())
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// benchPlatform serves the product on server.New as a service builds it:
// JSON access log at info (written to io.Discard), a tracer provider from an
// empty environment (sampling on, no exporter), a fresh Prometheus registry
// and the auth hook with GetProduct public, as in the inventory service.
func benchPlatform(b *testing.B) *server.App {
	b.Helper()
	return benchPlatformOn(b, config.TLS{}, insecure.NewCredentials(), nil)
}

// benchSampled is the setting of a busy production service: the access log
// writes 1 % of the successful fast calls (every failed and slow one), and
// 1 % of the traces that start here are recorded.
var benchSampled = map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}

// benchPlatformTLS is benchPlatform with TLS on, as under `slipway dev
// --tls`: the inventory's certificate from a test CA, mTLS on the gRPC port.
// The credentials it returns dial it as the order service does (its own
// certificate, the server's SPIFFE ID verified).
func benchPlatformTLS(b *testing.B) (*server.App, credentials.TransportCredentials) {
	b.Helper()
	ca, dir := tlstest.NewCA(b, "slipway"), b.TempDir()
	files := tlstest.Files(b, dir, "inventory", ca.Service(b, "inventory"), ca)
	client, err := tlsconfig.Load(tlstest.Files(b, dir, "order", ca.Service(b, "order"), ca))
	if err != nil {
		b.Fatal(err)
	}
	creds := client.ClientCredentials("inventory")
	return benchPlatformOn(b, files, creds, nil), creds
}

// benchPlatformOn is benchPlatform with files' TLS settings, dialled with
// creds until it is SERVING.
// sampling, when not nil, is benchSampled's tracing setting, and the access
// log samples 1 % of the successful fast calls.
func benchPlatformOn(b *testing.B, files config.TLS, creds credentials.TransportCredentials, sampling map[string]string) *server.App {
	b.Helper()
	var base config.Base
	base.SetDefaults("bench", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	base.ShutdownTimeout = 5 * time.Second
	if files.Enabled() {
		base.Service = "inventory" // the name its certificate carries
		base.TLS = files
		base.JWKSURL = "https://127.0.0.1:9/.well-known/jwks.json" // GetProduct is public: never fetched
	}
	if sampling != nil {
		base.AccessLog.AccessLogSample = 0.01
	}
	if err := base.Validate(); err != nil {
		b.Fatal(err)
	}

	ctx := context.Background()
	logger := telemetry.NewLogger(io.Discard, base.Service, slog.LevelInfo)
	tp, shutdown, err := telemetry.NewTracerProvider(ctx, base.Service, func(k string) string { return sampling[k] })
	if err != nil {
		b.Fatal(err)
	}
	policy := auth.Policy{inventoryv1.InventoryService_GetProduct_FullMethodName: auth.Public}
	app, err := server.New(base, &base, logger, telemetry.NewRegistry(), tp,
		server.WithService(server.Service{
			Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: newFixedProduct(),
			Gateway: inventoryv1.RegisterInventoryServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(auth.ProvideJWKSVerifier(base), policy, auth.WithTLS(base.TLS))),
	)
	if err != nil {
		b.Fatal(err)
	}
	server.WaitServing(b, benchDialWith(b, server.ServeForBench(b, app, shutdown), creds))
	return app
}

func benchDial(b *testing.B, addr string) *grpc.ClientConn {
	b.Helper()
	return benchDialWith(b, addr, insecure.NewCredentials())
}

func benchDialWith(b *testing.B, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	b.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

// BenchmarkUnary compares one unary call on a bare grpc-go server with the
// same call through the platform's whole chain, in plaintext and over mTLS.
func BenchmarkUnary(b *testing.B) {
	b.Run("server=bare", func(b *testing.B) {
		runSerial(b, grpcCall(benchDial(b, benchBare(b))))
	})
	b.Run("server=platform", func(b *testing.B) {
		app := benchPlatform(b)
		runSerial(b, grpcCall(benchDial(b, app.GRPCAddr())))
	})
	b.Run("server=platform-tls", func(b *testing.B) {
		app, creds := benchPlatformTLS(b)
		runSerial(b, grpcCall(benchDialWith(b, app.GRPCAddr(), creds)))
	})
	b.Run("server=platform-sampled", func(b *testing.B) {
		app := benchPlatformOn(b, config.TLS{}, insecure.NewCredentials(), benchSampled)
		runSerial(b, grpcCall(benchDial(b, app.GRPCAddr())))
	})
}

// BenchmarkProtocols makes the same call on the platform server over each
// protocol a client may use.
func BenchmarkProtocols(b *testing.B) {
	b.Run("protocol=grpc", func(b *testing.B) {
		app := benchPlatform(b)
		runParallel(b, grpcCall(benchDial(b, app.GRPCAddr())))
	})
	b.Run("protocol=rest", func(b *testing.B) {
		app := benchPlatform(b)
		runParallel(b, restCall(benchHTTPClient(b), "http://"+app.HTTPAddr()))
	})
	b.Run("protocol=grpc-web", func(b *testing.B) {
		app := benchPlatform(b)
		runParallel(b, grpcWebCall(benchHTTPClient(b), "http://"+app.HTTPAddr()))
	})
}
