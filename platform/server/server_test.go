package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// catalog is a small real implementation of the inventory contract, enough
// to exercise the platform on every protocol.
type catalog struct {
	inventoryv1.UnimplementedInventoryServiceServer
	logger  *slog.Logger
	release chan struct{} // "slow" waits on it
}

func (c *catalog) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	c.logger.InfoContext(ctx, "looking up product", "product_id", req.GetId())
	switch req.GetId() {
	case "boom":
		panic("product table on fire")
	case "slow":
		<-c.release
	case "mug", "ghost":
	case "busy":
		return nil, server.Status(fmt.Errorf("get product: %w", errkind.RetryAfter("rate limit of 5 lookups per second reached", 1500*time.Millisecond)))
	default:
		return nil, server.Status(fmt.Errorf("product %q: %w", req.GetId(), errkind.NotFound))
	}
	if req.GetId() == "ghost" {
		return nil, server.Status(errors.New("disk unplugged"))
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{
		Id: req.GetId(), Name: "Enamel mug", Stock: 7,
		Price: &moneyv1.Money{Currency: "EUR", AmountMinor: 1250},
	}}, nil
}

type harness struct {
	app      *server.App
	logs     *syncBuffer
	spans    *tracetest.InMemoryExporter
	grpcConn *grpc.ClientConn
	baseURL  string
	release  chan struct{}
	done     chan error
	cancel   context.CancelFunc
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, mutate func(*config.Base), opts ...server.Option) *harness {
	t.Helper()
	var base config.Base
	base.SetDefaults("catalog", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	base.ShutdownTimeout = 5 * time.Second
	base.CORSOrigins = []string{"http://localhost:8080"}
	if mutate != nil {
		mutate(&base)
	}
	h := &harness{logs: &syncBuffer{}, spans: tracetest.NewInMemoryExporter(), release: make(chan struct{}), done: make(chan error, 1)}
	logger := telemetry.NewLogger(h.logs, "catalog", slog.LevelDebug)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(h.spans))
	impl := &catalog{logger: logger, release: h.release}
	all := append([]server.Option{server.WithService(server.Service{
		Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: impl,
		Gateway: inventoryv1.RegisterInventoryServiceHandler,
	}), server.WithOpenAPI([]byte("openapi: 3.0.3\n"))}, opts...)
	app, err := server.New(base, &base, logger, telemetry.NewRegistry(), tp, all...)
	require.NoError(t, err)
	require.NoError(t, app.Listen())
	h.app = app
	h.baseURL = "http://" + app.HTTPAddr()

	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			assert.NoError(t, err, "a clean stop returns nil")
		case <-time.After(10 * time.Second):
			t.Error("app did not stop")
		}
	})

	conn, err := grpc.NewClient(app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	h.grpcConn = conn
	require.Eventually(t, func() bool {
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}, 5*time.Second, 10*time.Millisecond)
	return h
}

// call makes GetProduct over one protocol and returns the product name and
// the gRPC code (REST maps the HTTP status back through its problem body).
type protocolCall func(t *testing.T, h *harness, id string) (name string, code codes.Code, fields []string)

var protocols = map[string]protocolCall{
	"grpc": func(t *testing.T, h *harness, id string) (string, codes.Code, []string) {
		resp, err := inventoryv1.NewInventoryServiceClient(h.grpcConn).GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: id})
		return resp.GetProduct().GetName(), status.Code(err), violations(status.Convert(err).Details())
	},
	"grpc-web": func(t *testing.T, h *harness, id string) (string, codes.Code, []string) {
		return connectCall(t, h, id, connect.WithGRPCWeb())
	},
	"connect": func(t *testing.T, h *harness, id string) (string, codes.Code, []string) {
		return connectCall(t, h, id)
	},
	"rest": func(t *testing.T, h *harness, id string) (string, codes.Code, []string) {
		resp, err := http.Get(h.baseURL + "/v1/products/" + id)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			var out struct{ Product struct{ Name string } }
			require.NoError(t, json.Unmarshal(body, &out), string(body))
			return out.Product.Name, codes.OK, nil
		}
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		var p server.Problem
		require.NoError(t, json.Unmarshal(body, &p), string(body))
		assert.Equal(t, resp.StatusCode, p.Status)
		var fields []string
		for _, e := range p.Errors {
			fields = append(fields, e.Field)
		}
		return "", codeFromName(p.Code), fields
	},
}

func connectCall(t *testing.T, h *harness, id string, opts ...connect.ClientOption) (string, codes.Code, []string) {
	t.Helper()
	client := connect.NewClient[inventoryv1.GetProductRequest, inventoryv1.GetProductResponse](
		http.DefaultClient, h.baseURL+"/slipway.inventory.v1.InventoryService/GetProduct", opts...)
	resp, err := client.CallUnary(context.Background(), connect.NewRequest(&inventoryv1.GetProductRequest{Id: id}))
	if err != nil {
		var ce *connect.Error
		require.True(t, errors.As(err, &ce), "%v", err)
		var fields []string
		for _, d := range ce.Details() {
			v, derr := d.Value()
			require.NoError(t, derr)
			if br, ok := v.(*errdetails.BadRequest); ok {
				for _, f := range br.GetFieldViolations() {
					fields = append(fields, f.GetField())
				}
			}
		}
		return "", codes.Code(ce.Code()), fields
	}
	return resp.Msg.GetProduct().GetName(), codes.OK, nil
}

func violations(details []any) []string {
	var fields []string
	for _, d := range details {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, f := range br.GetFieldViolations() {
				fields = append(fields, f.GetField())
			}
		}
	}
	return fields
}

func codeFromName(name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if strings.EqualFold(strings.ReplaceAll(name, "_", ""), strings.ReplaceAll(c.String(), "_", "")) ||
			(name == "CANCELLED" && c == codes.Canceled) {
			return c
		}
	}
	return codes.Unknown
}

func TestEveryProtocolGivesTheSameAnswer(t *testing.T) {
	h := start(t, nil)
	cases := []struct {
		name   string
		id     string
		want   string
		code   codes.Code
		fields []string
	}{
		{"found", "mug", "Enamel mug", codes.OK, nil},
		{"domain not found", "teapot", "", codes.NotFound, nil},
		{"invalid field", strings.Repeat("x", 65), "", codes.InvalidArgument, []string{"id"}},
		{"panic becomes internal", "boom", "", codes.Internal, nil},
		{"unknown error becomes internal", "ghost", "", codes.Internal, nil},
	}
	for pname, call := range protocols {
		for _, tc := range cases {
			t.Run(pname+"/"+tc.name, func(t *testing.T) {
				name, code, fields := call(t, h, tc.id)
				assert.Equal(t, tc.code, code)
				assert.Equal(t, tc.want, name)
				assert.Equal(t, tc.fields, fields)
			})
		}
	}
	assert.Contains(t, h.logs.String(), `"panic":"product table on fire"`)
	assert.Contains(t, h.logs.String(), `"stack":"goroutine`)
	assert.Contains(t, h.logs.String(), `"cause":"disk unplugged"`, "the cause of an Internal error is logged, not sent")
}

func TestLogLinesInsideARequestCarryItsTraceID(t *testing.T) {
	// Each protocol carries the caller's W3C traceparent its own way.
	callers := map[string]func(t *testing.T, h *harness, traceparent string){
		"rest": func(t *testing.T, h *harness, traceparent string) {
			req, err := http.NewRequest(http.MethodGet, h.baseURL+"/v1/products/mug", nil)
			require.NoError(t, err)
			req.Header.Set("traceparent", traceparent)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		},
		"grpc": func(t *testing.T, h *harness, traceparent string) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", traceparent)
			_, err := inventoryv1.NewInventoryServiceClient(h.grpcConn).GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "mug"})
			require.NoError(t, err)
		},
		"grpc-web": func(t *testing.T, h *harness, traceparent string) {
			client := connect.NewClient[inventoryv1.GetProductRequest, inventoryv1.GetProductResponse](
				http.DefaultClient, h.baseURL+"/slipway.inventory.v1.InventoryService/GetProduct", connect.WithGRPCWeb())
			req := connect.NewRequest(&inventoryv1.GetProductRequest{Id: "mug"})
			req.Header().Set("traceparent", traceparent)
			_, err := client.CallUnary(context.Background(), req)
			require.NoError(t, err)
		},
	}
	traceIDs := map[string]string{
		"rest":     "4bf92f3577b34da6a3ce929d0e0e4736",
		"grpc":     "5bf92f3577b34da6a3ce929d0e0e4736",
		"grpc-web": "6bf92f3577b34da6a3ce929d0e0e4736",
	}
	for protocol, call := range callers {
		t.Run(protocol, func(t *testing.T) {
			h := start(t, nil)
			traceID := traceIDs[protocol]
			call(t, h, "00-"+traceID+"-00f067aa0ba902b7-01")

			var line map[string]any
			for _, l := range strings.Split(h.logs.String(), "\n") {
				if strings.Contains(l, "looking up product") {
					require.NoError(t, json.Unmarshal([]byte(l), &line))
				}
			}
			require.NotNil(t, line, "handler log line not found in:\n%s", h.logs.String())
			assert.Equal(t, traceID, line["trace_id"], "the trace continues the caller's traceparent")
			assert.NotEmpty(t, line["span_id"])
			assert.Equal(t, "catalog", line["service"])

			// The server span ends just after the response is written, so wait for it.
			require.Eventually(t, func() bool {
				for _, s := range h.spans.GetSpans() {
					if s.SpanContext.SpanID().String() == line["span_id"] {
						return s.SpanContext.TraceID().String() == traceID
					}
				}
				return false
			}, 2*time.Second, 5*time.Millisecond, "the log line names an exported span of the caller's trace")
		})
	}
}

func TestRequestIDIsEchoedOrMade(t *testing.T) {
	h := start(t, nil)
	req, _ := http.NewRequest(http.MethodGet, h.baseURL+"/v1/products/mug", nil)
	req.Header.Set("X-Request-Id", "req-123")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "req-123", resp.Header.Get("X-Request-Id"))

	var hdr metadata.MD
	_, err = inventoryv1.NewInventoryServiceClient(h.grpcConn).GetProduct(context.Background(),
		&inventoryv1.GetProductRequest{Id: "mug"}, grpc.Header(&hdr))
	require.NoError(t, err)
	require.Len(t, hdr.Get("x-request-id"), 1)
	assert.Len(t, hdr.Get("x-request-id")[0], 24)
}

func TestMetricsParseAndCountEveryRPCByProtocol(t *testing.T) {
	h := start(t, nil)
	for _, call := range protocols {
		call(t, h, "mug")
	}
	resp, err := http.Get(h.baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "metrics parse as Prometheus text exposition")

	counted := map[string]float64{}
	for _, m := range families["slipway_rpc_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["rpc_method"] == "GetProduct" && labels["code"] == "OK" {
			counted[labels["protocol"]] += m.GetCounter().GetValue()
		}
	}
	assert.Equal(t, map[string]float64{"grpc": 1, "grpc-web": 1, "connect": 1, "rest": 1}, counted)
	require.Contains(t, families, "slipway_rpc_duration_seconds")
	assert.NotEmpty(t, families["slipway_rpc_duration_seconds"].GetMetric())
	require.Contains(t, families, "slipway_config_info")
	assert.Len(t, families["slipway_config_info"].GetMetric()[0].GetLabel(), 2)
}

func TestAuthHookRunsOnEveryProtocol(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := start(t, nil, server.WithAuth(func(ctx context.Context, fullMethod string) (context.Context, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fullMethod)
		if strings.HasPrefix(fullMethod, "/grpc.") {
			return ctx, nil
		}
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	}))
	for pname, call := range protocols {
		t.Run(pname, func(t *testing.T) {
			_, code, _ := call(t, h, "mug")
			assert.Equal(t, codes.Unauthenticated, code)
		})
	}
	resp, err := http.Get(h.baseURL + "/v1/products/mug")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Bearer realm="slipway"`, resp.Header.Get("WWW-Authenticate"))
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, seen, "/slipway.inventory.v1.InventoryService/GetProduct")
}

func TestReflectionListsTheServices(t *testing.T) {
	h := start(t, nil)
	stream, err := reflectionpb.NewServerReflectionClient(h.grpcConn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.Contains(t, names, "slipway.inventory.v1.InventoryService")
	assert.Contains(t, names, "grpc.health.v1.Health")
}

func TestHealthFollowsDependenciesAndLifecycle(t *testing.T) {
	var mu sync.Mutex
	dbErr := error(nil)
	h := start(t, func(b *config.Base) { b.Surface.HealthCheckInterval = 20 * time.Millisecond },
		server.WithCheck("database", func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return dbErr
		}))
	get := func(path string) int {
		resp, err := http.Get(h.baseURL + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/healthz"))
	assert.Equal(t, http.StatusOK, get("/readyz"))
	resp, err := healthpb.NewHealthClient(h.grpcConn).Check(context.Background(),
		&healthpb.HealthCheckRequest{Service: "slipway.inventory.v1.InventoryService"})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())

	mu.Lock()
	dbErr = errors.New("connection refused")
	mu.Unlock()
	assert.Eventually(t, func() bool { return get("/readyz") == http.StatusServiceUnavailable }, 2*time.Second, 10*time.Millisecond)
	assert.Equal(t, http.StatusOK, get("/healthz"), "liveness never checks dependencies")
	resp, err = healthpb.NewHealthClient(h.grpcConn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "liveness"})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus(), "nor does gRPC liveness")
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	h := start(t, nil)
	results := make(chan codes.Code, 2)
	go func() {
		_, code, _ := protocols["grpc"](t, h, "slow")
		results <- code
	}()
	go func() {
		_, code, _ := protocols["rest"](t, h, "slow")
		results <- code
	}()
	require.Eventually(t, func() bool {
		return strings.Count(h.logs.String(), `"product_id":"slow"`) == 2
	}, 5*time.Second, 5*time.Millisecond, "both requests reached the handler")

	h.cancel() // what SIGTERM does through signal.NotifyContext in main
	require.Eventually(t, func() bool { return !h.app.Health().Serving() }, 2*time.Second, 5*time.Millisecond)
	close(h.release)

	for range 2 {
		assert.Equal(t, codes.OK, <-results)
	}
	select {
	case err := <-h.done:
		assert.NoError(t, err, "a clean stop returns nil")
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	h.done <- nil // for the cleanup
}

func TestCORSAllowsOnlyConfiguredOrigins(t *testing.T) {
	h := start(t, nil)
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, h.baseURL+"/slipway.inventory.v1.InventoryService/GetProduct", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	ok := preflight("http://localhost:8080")
	assert.Equal(t, "http://localhost:8080", ok.Header.Get("Access-Control-Allow-Origin"))
	evil := preflight("https://evil.example")
	assert.Empty(t, evil.Header.Get("Access-Control-Allow-Origin"))
}

func TestDebugConfigAnswersIfNoneMatchWith304(t *testing.T) {
	hook, token := adminHook(t)
	h := start(t, nil, hook)
	get := func(ifNoneMatch string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, h.baseURL+"/debug/config", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		if ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ifNoneMatch)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}
	first, body := get("")
	require.Equal(t, http.StatusOK, first.StatusCode)
	etag := first.Header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{64}"$`, etag, "a strong ETag")
	require.Contains(t, body, `"hash"`)

	for _, tt := range []struct {
		name, ifNoneMatch string
		want              int
	}{
		{"the same tag", etag, http.StatusNotModified},
		{"in a list", `"stale", ` + etag + `, "other"`, http.StatusNotModified},
		{"any tag", "*", http.StatusNotModified},
		{"the tag marked weak: If-None-Match compares weakly (RFC 9110)", "W/" + etag, http.StatusNotModified},
		{"another tag", `"0123"`, http.StatusOK},
		{"a list without it", `"a", "b"`, http.StatusOK},
		{"the tag without quotes", strings.Trim(etag, `"`), http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(tt.ifNoneMatch)
			assert.Equal(t, tt.want, resp.StatusCode)
			assert.Equal(t, etag, resp.Header.Get("ETag"), "every answer names the current tag")
			if tt.want == http.StatusNotModified {
				assert.Empty(t, body, "a 304 has no body")
			} else {
				assert.Contains(t, body, `"hash"`)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestDebugConfigShowsHashAndDocsAreServed(t *testing.T) {
	hook, token := adminHook(t)
	h := start(t, nil, hook)
	req, err := http.NewRequest(http.MethodGet, h.baseURL+"/debug/config", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Service, Hash string
		Config        map[string]any
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, "catalog", body.Service)
	assert.Len(t, body.Hash, 64)
	assert.Equal(t, "127.0.0.1:0", body.Config["grpc_addr"])

	docs, err := http.Get(h.baseURL + "/docs/")
	require.NoError(t, err)
	docs.Body.Close()
	assert.Equal(t, http.StatusOK, docs.StatusCode)
}
