package devconsole

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// at starts (and ends) spans at fixed times, so durations are known.
func at(ctx context.Context, tp *sdktrace.TracerProvider, name string, start time.Time,
	kind trace.SpanKind, attrs ...attribute.KeyValue,
) (context.Context, trace.Span) {
	return tp.Tracer("test").Start(ctx, name, trace.WithSpanKind(kind), trace.WithTimestamp(start), trace.WithAttributes(attrs...))
}

// grpcServer and grpcClient are the attributes platform/server and
// otelgrpc's client handler (v0.72, semantic conventions 1.43) give a
// call's spans.
func grpcServer(svc, method string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", svc),
		attribute.String("rpc.method", method), attribute.String("network.peer.address", "127.0.0.1:40000"),
	}
}

func grpcClient(svc, method, port string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("rpc.system.name", "grpc"), attribute.String("rpc.method", svc+"/"+method),
		attribute.String("server.address", "127.0.0.1"), attribute.String("server.port", port),
	}
}

// exportOrder exports, through the services' own tracer providers, the
// spans of one storefront order as the services make them: order's server
// span (called by the browser), its gRPC calls to inventory and payment
// (payment's server span never arrives: the call is named by rpc.service),
// the outbox relay's publish to NATS and notification's delivery from it.
func exportOrder(t *testing.T, tps map[string]*sdktrace.TracerProvider, start time.Time, payFails bool) string {
	t.Helper()
	ms := time.Millisecond
	ctx, root := at(t.Context(), tps["order"], "slipway.order.v1.OrderService/PlaceOrder", start, trace.SpanKindServer,
		grpcServer("slipway.order.v1.OrderService", "PlaceOrder")...)

	cctx, reserve := at(ctx, tps["order"], "slipway.inventory.v1.InventoryService/ReserveStock", start.Add(ms), trace.SpanKindClient,
		grpcClient("slipway.inventory.v1.InventoryService", "ReserveStock", "51153")...)
	_, served := at(cctx, tps["inventory"], "slipway.inventory.v1.InventoryService/ReserveStock", start.Add(2*ms), trace.SpanKindServer,
		grpcServer("slipway.inventory.v1.InventoryService", "ReserveStock")...)
	served.End(trace.WithTimestamp(start.Add(4 * ms)))
	reserve.End(trace.WithTimestamp(start.Add(5 * ms)))

	_, pay := at(ctx, tps["order"], "slipway.payment.v1.PaymentService/AuthorizePayment", start.Add(6*ms), trace.SpanKindClient,
		grpcClient("slipway.payment.v1.PaymentService", "AuthorizePayment", "51155")...)
	if payFails {
		pay.SetStatus(otelcodes.Error, "FailedPrecondition: declined")
	}
	pay.End(trace.WithTimestamp(start.Add(16 * ms)))

	pctx, publish := at(ctx, tps["order"], "order.placed publish", start.Add(17*ms), trace.SpanKindProducer,
		semconv.MessagingSystemKey.String("nats"), semconv.MessagingDestinationName("order.placed"))
	publish.End(trace.WithTimestamp(start.Add(18 * ms)))
	_, consume := at(pctx, tps["notification"], "order.placed process", start.Add(19*ms), trace.SpanKindConsumer,
		semconv.MessagingSystemKey.String("nats"), semconv.MessagingDestinationName("order.placed"))
	consume.End(trace.WithTimestamp(start.Add(22 * ms)))

	root.End(trace.WithTimestamp(start.Add(20 * ms)))
	return root.SpanContext().TraceID().String()
}

func edgeOf(t *testing.T, m CallMap, from, to string) MapEdge {
	t.Helper()
	for _, e := range m.Edges {
		if e.From == from && e.To == to {
			return e
		}
	}
	require.Failf(t, "no edge", "%s -> %s in %+v", from, to, m.Edges)
	return MapEdge{}
}

func TestCallMapDerivesEdgesFromTheServicesSpans(t *testing.T) {
	names := []string{"inventory", "notification", "order", "payment", "user"}
	var services []Service
	for _, n := range names {
		services = append(services, Service{Name: n})
	}
	c, srv := startConsole(t, Options{Services: services})
	now := time.Now().Truncate(time.Second)
	c.now = func() time.Time { return now }
	tps := map[string]*sdktrace.TracerProvider{}
	for _, n := range []string{"order", "inventory", "notification"} {
		tps[n] = serviceTracer(t, n, srv.URL)
	}
	first := exportOrder(t, tps, now.Add(-10*time.Second), false)
	declined := exportOrder(t, tps, now.Add(-5*time.Second), true)
	for _, tp := range tps {
		flush(t, tp)
	}

	var m CallMap
	require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/map", &m))
	assert.InDelta(t, 60, m.WindowSeconds, 0)

	kinds := map[string]string{}
	for _, n := range m.Nodes {
		kinds[n.ID] = n.Kind
	}
	assert.Equal(t, map[string]string{
		"clients": "client", "broker:nats": "broker",
		"inventory": "service", "notification": "service", "order": "service", "payment": "service", "user": "service",
	}, kinds, "every known service is a node, traffic or not")

	var got []string
	for _, e := range m.Edges {
		got = append(got, e.From+" -> "+e.To+" ("+e.Kind+")")
	}
	assert.ElementsMatch(t, []string{
		"clients -> order (call)",
		"order -> inventory (call)",
		"order -> payment (call)",
		"order -> broker:nats (publish)",
		"broker:nats -> notification (deliver)",
	}, got, "inventory's server span is counted through order's client span, not as a call from the clients")

	inv := edgeOf(t, m, "order", "inventory")
	assert.Equal(t, 2, inv.Count)
	assert.InDelta(t, 2.0/60, inv.RatePerSec, 1e-9)
	assert.InDelta(t, 4, inv.P99MS, 1e-9, "the client span's duration: 1ms to 5ms")
	assert.Equal(t, []string{"slipway.inventory.v1.InventoryService/ReserveStock"}, inv.Operations)

	pay := edgeOf(t, m, "order", "payment")
	assert.Equal(t, 1, pay.Errors)
	assert.InDelta(t, 0.5, pay.ErrorRate, 1e-9)
	require.Len(t, pay.Traces, 2)
	assert.Equal(t, declined, pay.Traces[0].TraceID, "the most recent first")
	assert.True(t, pay.Traces[0].Error)
	assert.Equal(t, first, pay.Traces[1].TraceID)
	assert.False(t, pay.Traces[1].Error)
	assert.InDelta(t, 10, pay.Traces[1].DurationMS, 1e-9)
}

func TestCallMapCountsOnlyTheWindow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewTraceStore(0, 0, 0)
	call := func(trace, id int, end time.Time, d time.Duration, failed bool) Span {
		sp := span(trace, id, 0, "order", uint64(end.Add(-d).UnixNano())) //nolint:gosec // positive
		sp.EndUnixNano = uint64(end.UnixNano())                           //nolint:gosec // positive
		sp.DurationMS = float64(d) / 1e6
		sp.Kind = spanKindClient
		sp.Attributes = map[string]string{"db.system.name": "postgresql"}
		if failed {
			sp.Status.Code = statusError
		}
		return sp
	}
	var spans []Span
	// 100 queries in the window, 1ms to 100ms, every tenth failing.
	for i := 1; i <= 100; i++ {
		spans = append(spans, call(i, i, now.Add(-time.Duration(i)*100*time.Millisecond), time.Duration(i)*time.Millisecond, i%10 == 0))
	}
	// Older ones, slow and failing, that must not count.
	for i := 101; i <= 150; i++ {
		spans = append(spans, call(i, i, now.Add(-61*time.Second), time.Second, true))
	}
	// One that ends after now (a clock ahead) is not in the window either.
	spans = append(spans, call(200, 200, now.Add(time.Second), time.Second, true))
	require.Zero(t, s.Add(spans))

	m := s.Map(now, time.Minute, []string{"order"})
	require.Len(t, m.Edges, 1)
	e := m.Edges[0]
	assert.Equal(t, "order", e.From)
	assert.Equal(t, "database:postgresql", e.To)
	assert.Equal(t, edgeKindDatabase, e.Kind)
	assert.Equal(t, 100, e.Count)
	assert.Equal(t, 10, e.Errors)
	assert.InDelta(t, 100.0/60, e.RatePerSec, 1e-9)
	assert.InDelta(t, 0.1, e.ErrorRate, 1e-9)
	assert.InDelta(t, 99, e.P99MS, 1e-9, "nearest rank: the 99th of 100")
	require.Len(t, e.Traces, mapTracesPerEdge, "a bounded list of traces")
	assert.Equal(t, tid(1), e.Traces[0].TraceID, "the most recent first")
	assert.Contains(t, m.Nodes, MapNode{ID: "database:postgresql", Label: "PostgreSQL", Kind: nodeKindDatabase})

	// A shorter window drops what it does not reach; none at all is empty.
	short := s.Map(now, 2*time.Second, []string{"order"})
	require.Len(t, short.Edges, 1)
	assert.Equal(t, 20, short.Edges[0].Count)
	assert.InDelta(t, 10, short.Edges[0].RatePerSec, 1e-9)
	assert.Empty(t, s.Map(now.Add(time.Hour), time.Minute, nil).Edges)
}

func TestCallMapNamesPeersOfOtherSpans(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewTraceStore(0, 0, 0)
	mk := func(id, parent int, service, kind, name string, attrs map[string]string) Span {
		sp := span(1, id, parent, service, uint64(now.Add(-time.Second).UnixNano())) //nolint:gosec // positive
		sp.Kind, sp.Name, sp.Attributes = kind, name, attrs
		return sp
	}
	s.Add([]Span{
		mk(1, 0, "user", spanKindServer, "POST /v1/sessions", nil),
		mk(2, 1, "user", spanKindClient, "GET", map[string]string{"db.system": "redis", "server.address": "localhost"}),
		mk(3, 1, "user", spanKindClient, "POST", map[string]string{"server.address": "api.stripe.com", "server.port": "443"}),
		// An HTTP call to a server on a port of its own is named with it.
		mk(9, 1, "user", spanKindClient, "POST /v1/payment_intents",
			map[string]string{"http.request.method": "POST", "server.address": "127.0.0.1", "server.port": "12111"}),
		mk(4, 1, "user", spanKindClient, "notification deliver", nil),
		mk(5, 1, "user", "INTERNAL", "hash password", nil),
		// A gRPC call in the older conventions whose callee exports nothing.
		mk(7, 1, "user", spanKindClient, "slipway.payment.v1.PaymentService/GetPayment",
			map[string]string{"rpc.system": "grpc", "rpc.service": "slipway.payment.v1.PaymentService", "server.address": "127.0.0.1"}),
		// One to a service the console does not run.
		mk(8, 1, "user", spanKindClient, "acme.Billing/Charge",
			map[string]string{"rpc.system.name": "grpc", "rpc.method": "acme.Billing/Charge", "server.address": "10.0.0.9"}),
		// A server span whose parent is a server span of another service
		// (a caller without client instrumentation) is a call from it.
		mk(6, 1, "audit", spanKindServer, "Record", nil),
	})
	m := s.Map(now, time.Minute, []string{"user", "payment"})
	var got []string
	for _, e := range m.Edges {
		got = append(got, fmt.Sprintf("%s -> %s", e.From, e.To))
	}
	assert.ElementsMatch(t, []string{
		"clients -> user", "user -> database:redis", "user -> external:api.stripe.com",
		"user -> external:notification deliver", "user -> audit", "user -> payment", "user -> external:acme.Billing",
		"user -> external:127.0.0.1:12111",
	}, got, "an internal span is no call")
	assert.Contains(t, m.Nodes, MapNode{ID: "database:redis", Label: "Redis", Kind: nodeKindDatabase})
}

func TestMapEndpointRefusesABadWindow(t *testing.T) {
	_, srv := startConsole(t, Options{})
	for _, w := range []string{"soon", "0s", "500ms", "16m", "-5s"} {
		var p problem
		assert.Equal(t, http.StatusBadRequest, getJSON(t, srv.URL+"/api/map?window="+w, &p), w)
		assert.Contains(t, p.Detail, "want a duration from 1s to 15m0s", w)
	}
	var m CallMap
	require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/map?window=5m", &m))
	assert.InDelta(t, 300, m.WindowSeconds, 0)
	assert.NotNil(t, m.Edges, "no traffic is an empty list, not null")
}
