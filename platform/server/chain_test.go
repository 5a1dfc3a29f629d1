package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/faults"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// chainAllocBudget is the most allocations the chain itself may add to a
// successful unary call that is logged, on top of what grpc-go and the
// handler allocate: the call (1), the generated request id (1) and the
// response header that carries it (3: map, its entries, the value), the
// default deadline (4: context, timer, cancel func, the parent's child
// set), the access log's peer string (1) and its sixth attribute, past the
// five a slog.Record holds inline (1). Metrics, shedding, recovery, auth,
// protovalidate on a valid message and faults allocate nothing.
// TestChainAllocations fails when a change goes over it.
const chainAllocBudget = 11

// getProduct is the method the chain tests call.
var getProduct = &grpc.UnaryServerInfo{FullMethod: inventoryv1.InventoryService_GetProduct_FullMethodName}

// testChain builds the chain as newChain does for a service, logging to w
// at info, with access overriding the access-log defaults when not zero.
func testChain(t testing.TB, w io.Writer, access config.AccessLog) (*chain, *prometheus.Registry) {
	t.Helper()
	var base config.Base
	base.SetDefaults("inventory", 0, 0)
	if access != (config.AccessLog{}) {
		base.AccessLog = access
	}
	reg := prometheus.NewRegistry()
	auth := func(ctx context.Context, _ string) (context.Context, error) { return ctx, nil }
	c, err := newChain(base, telemetry.NewLogger(w, base.Service, slog.LevelInfo), reg, auth, faults.New(false))
	require.NoError(t, err)
	return c, reg
}

// headerStream stands in for the gRPC server's stream in a call's context:
// grpc.SetHeader needs one. It keeps the last header set.
type headerStream struct{ header metadata.MD }

func (s *headerStream) Method() string                  { return getProduct.FullMethod }
func (s *headerStream) SetHeader(md metadata.MD) error  { s.header = md; return nil }
func (s *headerStream) SendHeader(md metadata.MD) error { s.header = md; return nil }
func (s *headerStream) SetTrailer(metadata.MD) error    { return nil }

// callContext is the context the gRPC server gives a call from 127.0.0.1:
// the client's metadata, its peer and the stream.
func callContext(t testing.TB, md metadata.MD, stream *headerStream) context.Context {
	t.Helper()
	base := metadata.MD{
		":authority": {"127.0.0.1:50052"}, "content-type": {"application/grpc"},
		"user-agent": {"grpc-go/1.79.0"}, "te": {"trailers"}, "grpc-accept-encoding": {"gzip"},
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Join(base, md))
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}})
	ctx = grpc.NewContextWithServerTransportStream(ctx, stream)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	return ctx
}

func answer(resp any, err error) grpc.UnaryHandler {
	return func(context.Context, any) (any, error) { return resp, err }
}

func TestChainStageOrder(t *testing.T) {
	c, _ := testChain(t, io.Discard, config.AccessLog{})
	var unary, stream []string
	for _, s := range c.stages() {
		if s.kinds&unaryCall != 0 {
			unary = append(unary, s.name)
		}
		if s.kinds&streamCall != 0 {
			stream = append(stream, s.name)
		}
	}
	assert.Equal(t, []string{"tracing", "request id", "metrics", "access log", "load shedding", "recovery",
		"deadline", "auth", "validation", "faults"}, unary, "the order chain's doc comment names")
	assert.Equal(t, []string{"tracing", "request id", "metrics", "access log", "watch stream bounds", "load shedding",
		"recovery", "auth", "faults"}, stream)
}

func TestChainAllocations(t *testing.T) {
	c, _ := testChain(t, io.Discard, config.AccessLog{})
	req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}
	resp := &inventoryv1.GetProductResponse{}
	stream := &headerStream{}
	ctx := callContext(t, nil, stream)
	handler := answer(resp, nil)
	call := func() {
		got, err := c.unary(ctx, req, getProduct, handler)
		if err != nil || got != resp {
			t.Fatalf("unary = %v, %v", got, err)
		}
	}
	call() // the first call of a method fills the metrics cache

	allocs := testing.AllocsPerRun(200, call)
	t.Logf("the chain allocates %.0f times per successful call", allocs)
	assert.Len(t, stream.header.Get(RequestIDHeader), 1, "the call's response carries its request id")
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector")
	}
	assert.LessOrEqual(t, allocs, float64(chainAllocBudget), "allocations the chain adds to a successful call")
}

func TestChainRequestID(t *testing.T) {
	c, _ := testChain(t, io.Discard, config.AccessLog{})
	var seen string
	handler := func(ctx context.Context, _ any) (any, error) {
		seen = RequestID(ctx)
		return &inventoryv1.GetProductResponse{}, nil
	}
	req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}

	stream := &headerStream{}
	_, err := c.unary(callContext(t, metadata.Pairs(RequestIDHeader, "caller-7"), stream), req, getProduct, handler)
	require.NoError(t, err)
	assert.Equal(t, "caller-7", seen, "the caller's id reaches the handler")
	assert.Equal(t, []string{"caller-7"}, stream.header.Get(RequestIDHeader), "and is echoed back")

	_, err = c.unary(callContext(t, metadata.Pairs(RequestIDHeader, "bad id\n"), stream), req, getProduct, handler)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{24}$`, seen, "an insane id is replaced")
	assert.Equal(t, []string{seen}, stream.header.Get(RequestIDHeader))
	first := seen
	_, err = c.unary(callContext(t, nil, stream), req, getProduct, handler)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{24}$`, seen)
	assert.NotEqual(t, first, seen, "each call gets its own id")
}

// logLines runs calls through a chain whose access log has cfg and returns
// the "rpc" lines it wrote.
func logLines(t *testing.T, cfg config.AccessLog, calls func(c *chain)) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	c, _ := testChain(t, &buf, cfg)
	calls(c)
	var lines []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if raw == "" {
			continue
		}
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &line), raw)
		if line["msg"] == "rpc" {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestAccessLog(t *testing.T) {
	req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}
	ok := answer(&inventoryv1.GetProductResponse{}, nil)
	never := config.AccessLog{AccessLogSample: 0, AccessLogSlow: time.Hour}
	unary := func(t *testing.T, c *chain, md metadata.MD, h grpc.UnaryHandler) error {
		_, err := c.unary(callContext(t, md, &headerStream{}), req, getProduct, h)
		return err
	}

	t.Run("every call by default", func(t *testing.T) {
		lines := logLines(t, config.AccessLog{}, func(c *chain) {
			require.NoError(t, unary(t, c, metadata.Pairs(RequestIDHeader, "r-1", protocolHeader, "rest"), ok))
		})
		require.Len(t, lines, 1)
		line := lines[0]
		assert.Equal(t, "INFO", line["level"])
		assert.Equal(t, getProduct.FullMethod, line["method"])
		assert.Equal(t, "OK", line["code"])
		assert.Equal(t, "rest", line["protocol"])
		assert.Equal(t, "r-1", line["request_id"])
		assert.Equal(t, "127.0.0.1:41234", line["peer"])
		us, isNumber := line["duration_us"].(float64)
		assert.True(t, isNumber, "duration_us is a number: %v", line["duration_us"])
		assert.Equal(t, float64(int64(us)), us, "duration_us is whole microseconds")
		assert.NotContains(t, line, "error")
	})

	t.Run("sampled-out successful call is not written", func(t *testing.T) {
		lines := logLines(t, never, func(c *chain) {
			for range 20 {
				require.NoError(t, unary(t, c, nil, ok))
			}
		})
		assert.Empty(t, lines)
	})

	t.Run("failed call is always written", func(t *testing.T) {
		failed := answer(nil, fmt.Errorf("product espresso: %w", errkind.NotFound))
		broken := answer(nil, errors.New("disk on fire"))
		lines := logLines(t, never, func(c *chain) {
			assert.Equal(t, codes.NotFound, status.Code(unary(t, c, nil, failed)))
			assert.Equal(t, codes.Internal, status.Code(unary(t, c, nil, broken)))
			_, err := c.unary(callContext(t, nil, &headerStream{}), &inventoryv1.GetProductRequest{}, getProduct, ok)
			assert.Equal(t, codes.InvalidArgument, status.Code(err), "a request with no id")
		})
		require.Len(t, lines, 3)
		assert.Equal(t, "NotFound", lines[0]["code"])
		assert.Equal(t, "WARN", lines[0]["level"])
		assert.Equal(t, "product espresso: not found", lines[0]["error"])
		assert.Equal(t, "Internal", lines[1]["code"])
		assert.Equal(t, "ERROR", lines[1]["level"])
		assert.Equal(t, "internal error", lines[1]["error"], "what the client read")
		assert.Equal(t, "disk on fire", lines[1]["cause"], "the cause the client never sees")
		assert.Equal(t, "InvalidArgument", lines[2]["code"])
	})

	t.Run("slow call is always written", func(t *testing.T) {
		slow := func(context.Context, any) (any, error) {
			time.Sleep(3 * time.Millisecond)
			return &inventoryv1.GetProductResponse{}, nil
		}
		lines := logLines(t, config.AccessLog{AccessLogSample: 0, AccessLogSlow: time.Millisecond}, func(c *chain) {
			require.NoError(t, unary(t, c, nil, slow))
		})
		require.Len(t, lines, 1)
		assert.GreaterOrEqual(t, lines[0]["duration_us"], float64(3000))
	})

	t.Run("a fraction of successful calls", func(t *testing.T) {
		const calls = 2000
		lines := logLines(t, config.AccessLog{AccessLogSample: 0.5, AccessLogSlow: time.Hour}, func(c *chain) {
			for range calls {
				require.NoError(t, unary(t, c, nil, ok))
			}
		})
		// 9 standard deviations either side of 1000: never fails by chance.
		assert.InDelta(t, calls/2, len(lines), 200)
	})

	t.Run("invalid settings are refused", func(t *testing.T) {
		var base config.Base
		base.SetDefaults("inventory", 0, 0)
		base.AccessLog.AccessLogSample = 2
		_, err := newChain(base, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil, nil)
		require.EqualError(t, err, "access log: sample 2: want a fraction from 0 to 1")
		base.AccessLog = config.AccessLog{AccessLogSample: 1}
		_, err = newChain(base, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil, nil)
		require.EqualError(t, err, "access log: slow 0s: must be greater than 0")
	})
}

// countingHandler counts the records it is asked to handle.
type countingHandler struct {
	level   slog.Level
	handled int
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *countingHandler) Handle(context.Context, slog.Record) error    { h.handled++; return nil }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *countingHandler) WithGroup(string) slog.Handler                { return h }

func TestAccessLogDisabledLevel(t *testing.T) {
	h := &countingHandler{level: slog.LevelWarn}
	a, err := newAccessLog(slog.New(h), config.AccessLog{AccessLogSample: 1, AccessLogSlow: time.Second})
	require.NoError(t, err)
	cl := newCall(callContext(t, nil, &headerStream{}), getProduct.FullMethod)
	allocs := testing.AllocsPerRun(100, func() { a.record(cl, cl, nil) })
	assert.Zero(t, h.handled, "an OK call is logged at info, below the logger's level")
	a.record(cl, cl, status.Error(codes.Unavailable, "down"))
	assert.Equal(t, 1, h.handled, "a failure is at warn or above")
	if !raceEnabled {
		assert.Zero(t, allocs, "a line not written costs no attribute")
	}
}

func TestPeerString(t *testing.T) {
	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234},
		&net.TCPAddr{IP: net.ParseIP("10.1.2.3").To4(), Port: 80},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"},
		&net.TCPAddr{Port: 9},
		&net.UnixAddr{Name: "/run/x.sock", Net: "unix"},
	} {
		assert.Equal(t, addr.String(), peerString(addr))
	}
}

// series returns the value of each series of the metric name in reg, by
// its labels other than service written k=v,k=v in label name order.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "service" {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
			}
			out[strings.Join(labels, ",")] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

func TestChainMetrics(t *testing.T) {
	c, reg := testChain(t, io.Discard, config.AccessLog{})
	req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}
	ok := answer(&inventoryv1.GetProductResponse{}, nil)
	missing := answer(nil, errkind.NotFound)
	for _, call := range []struct {
		protocol string
		h        grpc.UnaryHandler
	}{{"", ok}, {"", ok}, {"", missing}, {"connect", ok}, {"nonsense", ok}} {
		var md metadata.MD
		if call.protocol != "" {
			md = metadata.Pairs(protocolHeader, call.protocol)
		}
		_, _ = c.unary(callContext(t, md, &headerStream{}), req, getProduct, call.h)
	}
	const svc = "rpc_method=GetProduct,rpc_service=slipway.inventory.v1.InventoryService"
	assert.Equal(t, map[string]float64{
		"code=OK,protocol=grpc," + svc:       3,
		"code=NotFound,protocol=grpc," + svc: 1,
		"code=OK,protocol=connect," + svc:    1,
	}, series(t, reg, "slipway_rpc_requests_total"), "only the series calls touched, a protocol the listener never writes counted as grpc")
	assert.Equal(t, map[string]float64{
		"protocol=grpc," + svc:    4,
		"protocol=connect," + svc: 1,
	}, series(t, reg, "slipway_rpc_duration_seconds"))
	assert.Equal(t, map[string]float64{"protocol=grpc": 0, "protocol=connect": 0},
		series(t, reg, "slipway_rpc_in_flight"), "every call has ended")
}

func TestChainMetricsCacheBound(t *testing.T) {
	c, reg := testChain(t, io.Discard, config.AccessLog{})
	for i := range maxCachedMethods + 5 {
		c.metrics.observe(fmt.Sprintf("/pkg.S/M%d", i), protocolGRPC, codes.OK, time.Millisecond)
	}
	c.metrics.observe("/pkg.S/M0", protocolGRPC, codes.OK, time.Millisecond)
	c.metrics.observe(fmt.Sprintf("/pkg.S/M%d", maxCachedMethods+1), protocolGRPC, codes.OK, time.Millisecond)
	assert.Len(t, *c.metrics.methods.Load(), maxCachedMethods, "the cache stops growing")
	got := series(t, reg, "slipway_rpc_requests_total")
	assert.Equal(t, float64(2), got["code=OK,protocol=grpc,rpc_method=M0,rpc_service=pkg.S"], "a cached method")
	assert.Equal(t, float64(2), got[fmt.Sprintf("code=OK,protocol=grpc,rpc_method=M%d,rpc_service=pkg.S", maxCachedMethods+1)],
		"a method past the bound is still counted")
}

func TestChainPanic(t *testing.T) {
	var buf bytes.Buffer
	c, reg := testChain(t, &buf, config.AccessLog{})
	boom := func(context.Context, any) (any, error) { panic("boom") }
	_, err := c.unary(callContext(t, metadata.Pairs(RequestIDHeader, "r-9"), &headerStream{}),
		&inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}, getProduct, boom)
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Contains(t, buf.String(), `"msg":"panic in handler"`)
	assert.Contains(t, buf.String(), `"request_id":"r-9"`)
	assert.Equal(t, float64(1), series(t, reg, "slipway_rpc_requests_total")["code=Internal,protocol=grpc,rpc_method=GetProduct,rpc_service=slipway.inventory.v1.InventoryService"])
}
