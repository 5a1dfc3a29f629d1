package server

// Benchmark helpers shared by the internal benchmarks (BenchmarkHTTPPaths)
// and, through export_test.go, the external ones (BenchmarkUnary,
// BenchmarkProtocols): the product every benchmark serves, the clients of
// each protocol, and the loops that time them.

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
)

const benchProductID = "espresso-blend-1kg"

// fixedProduct answers GetProduct with one product from memory, so the
// benchmarks measure the transport and the chain, not a handler.
type fixedProduct struct {
	inventoryv1.UnimplementedInventoryServiceServer
	resp *inventoryv1.GetProductResponse
}

func newFixedProduct() *fixedProduct {
	return &fixedProduct{resp: &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{
		Id: benchProductID, Name: "Espresso blend, 1 kg", Description: "Dark roast for espresso",
		Price: &moneyv1.Money{Currency: "EUR", AmountMinor: 2450}, Stock: 60,
	}}}
}

func (f *fixedProduct) GetProduct(context.Context, *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	return f.resp, nil
}

// benchHTTPClient keeps enough idle connections for every goroutine of a
// parallel benchmark, so REST and gRPC-Web reuse connections as browsers do.
func benchHTTPClient(b *testing.B) *http.Client {
	b.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// benchCall makes one GetProduct call and checks the answer.
type benchCall func(ctx context.Context) error

func grpcCall(conn *grpc.ClientConn) benchCall {
	client := inventoryv1.NewInventoryServiceClient(conn)
	req := &inventoryv1.GetProductRequest{Id: benchProductID}
	return func(ctx context.Context) error {
		resp, err := client.GetProduct(ctx, req)
		return checkProduct(resp, err)
	}
}

func restCall(hc *http.Client, baseURL string) benchCall {
	url := baseURL + "/v1/products/" + benchProductID
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
			return &httpStatusError{resp.Status, string(body)}
		}
		var out inventoryv1.GetProductResponse
		if err := protojson.Unmarshal(body, &out); err != nil {
			return err
		}
		return checkProduct(&out, nil)
	}
}

func grpcWebCall(hc *http.Client, baseURL string) benchCall {
	client := connect.NewClient[inventoryv1.GetProductRequest, inventoryv1.GetProductResponse](
		hc, baseURL+"/"+inventoryv1.InventoryService_ServiceDesc.ServiceName+"/GetProduct", connect.WithGRPCWeb())
	return func(ctx context.Context) error {
		resp, err := client.CallUnary(ctx, connect.NewRequest(&inventoryv1.GetProductRequest{Id: benchProductID}))
		if err != nil {
			return err
		}
		return checkProduct(resp.Msg, nil)
	}
}

type httpStatusError struct{ status, body string }

func (e *httpStatusError) Error() string { return "HTTP " + e.status + ": " + e.body }

type wrongProductError struct{ got string }

func (e *wrongProductError) Error() string { return "wrong product " + e.got }

func checkProduct(resp *inventoryv1.GetProductResponse, err error) error {
	if err != nil {
		return err
	}
	if id := resp.GetProduct().GetId(); id != benchProductID {
		return &wrongProductError{id}
	}
	return nil
}

// runSerial makes b.N calls one after the other.
func runSerial(b *testing.B, call benchCall) {
	b.Helper()
	ctx := context.Background()
	if err := call(ctx); err != nil { // warm the connection up
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startCPUMeter()
	for b.Loop() {
		if err := call(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// benchParallelism is goroutines per GOMAXPROCS in BenchmarkProtocols: enough
// callers to keep the server busy while others wait on the network.
const benchParallelism = 8

// runParallel makes b.N calls from GOMAXPROCS*benchParallelism goroutines
// and reports the throughput.
func runParallel(b *testing.B, call benchCall) {
	b.Helper()
	ctx := context.Background()
	if err := call(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	cpu := startCPUMeter()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// cpuMeter measures the process's CPU time from its start to report.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPUMeter() cpuMeter {
	start, ok := processCPUTime()
	return cpuMeter{start, ok}
}

// report adds cpu-ns/op: CPU time per call, client and server together.
func (m cpuMeter) report(b *testing.B) {
	end, ok := processCPUTime()
	if m.ok && ok && b.N > 0 {
		b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
	}
}
