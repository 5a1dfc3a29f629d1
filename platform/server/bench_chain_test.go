package server

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// BenchmarkChain is the chain alone around a handler that answers at once,
// in the context the gRPC server gives a call: what the chain costs a
// call, without the transport BenchmarkUnary also measures. log=every is
// the default access log (every call written), log=sampled-out a call the
// sampling leaves out.
func BenchmarkChain(b *testing.B) {
	for _, bc := range []struct {
		name   string
		access config.AccessLog
	}{
		{"log=every", config.AccessLog{}},
		{"log=sampled-out", config.AccessLog{AccessLogSample: 0, AccessLogSlow: 1 << 62}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := testChain(b, io.Discard, bc.access)
			req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}
			handler := answer(&inventoryv1.GetProductResponse{}, nil)
			ctx := callContext(b, nil, &headerStream{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.unary(ctx, req, getProduct, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnaryParts splits BenchmarkUnary's platform overhead by part:
// one GetProduct at a time over loopback on a grpc-go server with nothing
// (bare), with the chain only (chain), with the otelgrpc stats handler
// only, configured as App.New does (otel: every call traced, the default
// sampler; otel-unsampled: a call the sampler leaves out, as most are
// under OTEL_TRACES_SAMPLER=parentbased_traceidratio), and with both;
// chain+trace is the chain with its own tracing stage (traceWith) in place
// of otelgrpc, every call traced with the same tracer provider;
// +conntagger adds the stats handler the per-connection Watch bound
// installs (grpcLimits), with which grpc-go builds stats events for every
// call even when no handler reads them. The
// +workers variants serve with grpc.NumStreamWorkers(GOMAXPROCS), whose
// long-lived goroutines keep their grown stacks: without it every call
// runs on a new goroutine that starts with a 2 KB stack and copies it as
// the chain, otelgrpc and slog deepen it.
//
//	benchstat -col /server bench.txt
//
// Besides wall time it reports cpu-ns/op, as BenchmarkUnary does.
func BenchmarkUnaryParts(b *testing.B) {
	for _, bc := range []struct {
		name    string
		chain   bool
		sampler string // OTEL_TRACES_SAMPLER; "" no tracing
	}{
		{"bare", false, ""},
		{"chain", true, ""},
		{"otel", false, "parentbased_always_on"},
		{"otel-unsampled", false, "parentbased_always_off"},
		{"chain+otel", true, "parentbased_always_on"},
		{"chain+otel-unsampled", true, "parentbased_always_off"},
		{"chain+otel+workers", true, "parentbased_always_on"},
		{"bare+workers", false, ""},
		{"chain+trace", true, "parentbased_always_on"},
		{"chain+trace+workers", true, "parentbased_always_on"},
	} {
		b.Run("server="+bc.name, func(b *testing.B) {
			var opts []grpc.ServerOption
			if strings.HasSuffix(bc.name, "+workers") {
				opts = append(opts, grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))
			}
			var c *chain
			if bc.chain {
				c, _ = testChain(b, io.Discard, config.AccessLog{})
				opts = append(opts, grpc.ChainUnaryInterceptor(c.unary))
			}
			if bc.sampler != "" {
				env := map[string]string{"OTEL_TRACES_SAMPLER": bc.sampler}
				tp, shutdown, err := telemetry.NewTracerProvider(context.Background(), "bench", func(k string) string { return env[k] })
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = shutdown(context.Background()) })
				if strings.Contains(bc.name, "+trace") {
					c.traceWith(tp.Tracer(tracerName), telemetry.Propagator())
				} else {
					opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
						otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(telemetry.Propagator()))))
				}
			}
			client := inventoryv1.NewInventoryServiceClient(serveProduct(b, opts...))
			req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}
			ctx := context.Background()
			if _, err := client.GetProduct(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start, measured := cpuTime()
			for b.Loop() {
				if _, err := client.GetProduct(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time per call, client and server together: on a busy
			// machine wall time also counts the wait for a CPU.
			if end, ok := cpuTime(); measured && ok {
				b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// productServer answers GetProduct from memory.
type productServer struct {
	inventoryv1.UnimplementedInventoryServiceServer
	resp *inventoryv1.GetProductResponse
}

func (s *productServer) GetProduct(context.Context, *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	return s.resp, nil
}

// serveProduct serves productServer on loopback with opts and dials it.
func serveProduct(b *testing.B, opts ...grpc.ServerOption) *grpc.ClientConn {
	b.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	inventoryv1.RegisterInventoryServiceServer(srv, &productServer{resp: &inventoryv1.GetProductResponse{
		Product: &inventoryv1.Product{Id: "espresso-blend-1kg", Name: "Espresso blend, 1 kg"},
	}})
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}
