package devconsole

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

// startConsole serves a console for opts on a test server.
func startConsole(t *testing.T, opts Options) (*Console, *httptest.Server) {
	t.Helper()
	c := New(opts)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return c, srv
}

// serviceTracer is a tracer provider built exactly as every service builds
// its own (platform/telemetry), exporting to endpoint over OTLP/HTTP.
func serviceTracer(t *testing.T, service, endpoint string) *sdktrace.TracerProvider {
	t.Helper()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
	tp, shutdown, err := telemetry.NewTracerProvider(t.Context(), service, func(k string) string { return env[k] })
	require.NoError(t, err)
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	return tp
}

// gzipTracer exports with the SDK's OTLP/HTTP exporter, gzip-compressed.
func gzipTracer(t *testing.T, service, endpoint string) *sdktrace.TracerProvider {
	t.Helper()
	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func flush(t *testing.T, tps ...*sdktrace.TracerProvider) {
	t.Helper()
	for _, tp := range tps {
		require.NoError(t, tp.ForceFlush(t.Context()))
	}
}

// placeOrder makes the spans of one order crossing two services: order's
// server span and, as its child, inventory's Reserve, which fails. It
// returns the trace id and both span ids.
func placeOrder(t *testing.T, order, inventory *sdktrace.TracerProvider) (traceID, orderSpan, reserveSpan string) {
	t.Helper()
	ctx, parent := order.Tracer("test").Start(t.Context(), "POST /v1/orders",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("http.request.method", "POST")))
	_, child := inventory.Tracer("test").Start(ctx, "slipway.inventory.v1.InventoryService/Reserve",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.Int("items", 2), attribute.StringSlice("ids", []string{"a", "b"})))
	child.SetStatus(otelcodes.Error, "out of stock")
	child.End()
	parent.End()
	return parent.SpanContext().TraceID().String(), parent.SpanContext().SpanID().String(), child.SpanContext().SpanID().String()
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, into), string(body))
	return resp.StatusCode
}

type traceList struct {
	Traces []TraceSummary `json:"traces"`
}

// traceDetailJSON is the trace detail as a browser reads it.
type traceDetailJSON struct {
	TraceID string           `json:"trace_id"`
	Spans   []map[string]any `json:"spans"`
	Logs    []LogLine        `json:"logs"`
}

func TestOTLPReceiverAssemblesATraceAcrossServices(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tracers func(t *testing.T, endpoint string) (order, inventory *sdktrace.TracerProvider)
	}{
		{"protobuf, as the services export", func(t *testing.T, endpoint string) (*sdktrace.TracerProvider, *sdktrace.TracerProvider) {
			return serviceTracer(t, "order", endpoint), serviceTracer(t, "inventory", endpoint)
		}},
		{"protobuf, gzip", func(t *testing.T, endpoint string) (*sdktrace.TracerProvider, *sdktrace.TracerProvider) {
			return gzipTracer(t, "order", endpoint), gzipTracer(t, "inventory", endpoint)
		}},
		{"JSON, as a browser exporter sends it", func(t *testing.T, endpoint string) (*sdktrace.TracerProvider, *sdktrace.TracerProvider) {
			relay := jsonRelay(t, endpoint)
			return serviceTracer(t, "order", relay), serviceTracer(t, "inventory", relay)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := startConsole(t, Options{})
			order, inventory := tt.tracers(t, srv.URL)
			traceID, orderSpan, reserveSpan := placeOrder(t, order, inventory)
			// The child arrives first: the trace must still find its root.
			flush(t, inventory)
			flush(t, order)

			var list traceList
			require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/traces", &list))
			require.Len(t, list.Traces, 1)
			got := list.Traces[0]
			assert.Equal(t, traceID, got.TraceID)
			assert.Equal(t, "order", got.RootService)
			assert.Equal(t, "POST /v1/orders", got.RootName)
			assert.Equal(t, 2, got.SpanCount)
			assert.Equal(t, []string{"inventory", "order"}, got.Services)
			assert.True(t, got.Error, "a span failed")
			assert.False(t, got.Start.IsZero())
			assert.GreaterOrEqual(t, got.DurationMS, 0.0)

			var detail traceDetailJSON
			require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/traces/"+traceID, &detail))
			assert.Equal(t, traceID, detail.TraceID)
			require.Len(t, detail.Spans, 2)
			root, reserve := detail.Spans[0], detail.Spans[1] // by start time
			assert.Equal(t, orderSpan, root["span_id"])
			assert.Equal(t, "", root["parent_span_id"])
			assert.Equal(t, "order", root["service"])
			assert.Equal(t, "SERVER", root["kind"])
			assert.Equal(t, map[string]any{"code": "UNSET", "message": ""}, root["status"])
			assert.Equal(t, map[string]any{"http.request.method": "POST"}, root["attributes"])

			assert.Equal(t, reserveSpan, reserve["span_id"])
			assert.Equal(t, orderSpan, reserve["parent_span_id"])
			assert.Equal(t, "inventory", reserve["service"])
			assert.Equal(t, "slipway.inventory.v1.InventoryService/Reserve", reserve["name"])
			assert.Equal(t, map[string]any{"code": "ERROR", "message": "out of stock"}, reserve["status"])
			assert.Equal(t, map[string]any{"items": "2", "ids": `["a","b"]`}, reserve["attributes"])
			start, err := strconv.ParseUint(reserve["start_unix_nano"].(string), 10, 64)
			require.NoError(t, err, "times are decimal strings")
			end, err := strconv.ParseUint(reserve["end_unix_nano"].(string), 10, 64)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, end, start)
			assert.InDelta(t, float64(end-start)/1e6, reserve["duration_ms"], 1e-9)
			assert.Equal(t, []LogLine{}, detail.Logs, "no log lines were offered")
		})
	}
}

// jsonRelay is an OTLP endpoint that re-encodes every protobuf export it
// gets in the OTLP JSON encoding (hex ids) and forwards it to endpoint, so
// the console receives real exports as JSON.
func jsonRelay(t *testing.T, endpoint string) string {
	t.Helper()
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		var req collectortrace.ExportTraceServiceRequest
		require.NoError(t, proto.Unmarshal(body, &req))
		js := toOTLPJSON(t, &req)
		resp, err := http.Post(endpoint+"/v1/traces", "application/json", bytes.NewReader(js))
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusOK, resp.StatusCode, string(out))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var answer collectortrace.ExportTraceServiceResponse
		assert.NoError(t, protojson.Unmarshal(out, &answer), "a JSON export gets a JSON answer")
		w.Header().Set("Content-Type", "application/x-protobuf")
		reply, _ := proto.Marshal(&answer)
		_, _ = w.Write(reply)
	}))
	t.Cleanup(relay.Close)
	return relay.URL
}

// toOTLPJSON encodes req as the OTLP specification's JSON: protobuf JSON
// with trace and span ids in hex.
func toOTLPJSON(t *testing.T, req *collectortrace.ExportTraceServiceRequest) []byte {
	t.Helper()
	js, err := protojson.Marshal(req)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(js, &doc))
	for _, rs := range doc["resourceSpans"].([]any) {
		for _, ss := range rs.(map[string]any)["scopeSpans"].([]any) {
			for _, sp := range ss.(map[string]any)["spans"].([]any) {
				span := sp.(map[string]any)
				for _, k := range []string{"traceId", "spanId", "parentSpanId"} {
					if v, ok := span[k].(string); ok {
						raw, err := base64.StdEncoding.DecodeString(v)
						require.NoError(t, err)
						span[k] = hex.EncodeToString(raw)
					}
				}
			}
		}
	}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// specExample follows the OTLP/JSON example of the specification
// (opentelemetry-proto examples/trace.json): hex ids, integer enums,
// 64-bit times as strings.
const specExample = `{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "retries", "value": {"intValue": "3"}},
          {"key": "ratio", "value": {"doubleValue": 0.5}},
          {"key": "cached", "value": {"boolValue": true}}
        ],
        "status": {"code": 2, "message": "boom"},
        "events": [{"timeUnixNano": "1544712660500000000", "name": "exception",
          "attributes": [{"key": "exception.message", "value": {"stringValue": "disk full"}}]}]
      }]
    }]
  }]
}`

func TestOTLPReceiverReadsTheSpecificationsJSON(t *testing.T) {
	c, srv := startConsole(t, Options{})
	resp, err := http.Post(srv.URL+"/v1/traces", "application/json", strings.NewReader(specExample))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.JSONEq(t, `{}`, string(body), "a full success has no partial_success")

	spans, ok := c.Traces().Get("5b8efff798038103d269b633813fc60c")
	require.True(t, ok, "hex ids are read as hex, not base64")
	require.Len(t, spans, 1)
	sp := spans[0]
	assert.Equal(t, "eee19b7ec3c1b174", sp.SpanID)
	assert.Equal(t, "eee19b7ec3c1b173", sp.ParentSpanID)
	assert.Equal(t, "my.service", sp.Service)
	assert.Equal(t, "SERVER", sp.Kind)
	assert.Equal(t, uint64(1544712660000000000), sp.StartUnixNano)
	assert.InDelta(t, 1000.0, sp.DurationMS, 1e-9)
	assert.Equal(t, SpanStatus{Code: "ERROR", Message: "boom"}, sp.Status)
	assert.Equal(t, map[string]string{"my.span.attr": "some value", "retries": "3", "ratio": "0.5", "cached": "true"}, sp.Attributes)
	assert.Equal(t, []SpanEvent{{Time: "2018-12-13T14:51:00.5Z", Name: "exception", Attributes: map[string]string{"exception.message": "disk full"}}}, sp.Events)
}

func TestOTLPReceiverStaysWithinItsBounds(t *testing.T) {
	tests := []struct {
		name                string
		maxTraces, maxSpans int
		kept                int // traces left of the 12 exported, each of 2 spans
	}{
		{name: "the trace bound evicts", maxTraces: 3, maxSpans: 1000, kept: 3},
		{name: "the span bound evicts whole traces", maxTraces: 1000, maxSpans: 9, kept: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := startConsole(t, Options{MaxTraces: tt.maxTraces, MaxSpans: tt.maxSpans})
			order, inventory := serviceTracer(t, "order", srv.URL), serviceTracer(t, "inventory", srv.URL)
			var ids []string
			for range 12 {
				id, _, _ := placeOrder(t, order, inventory)
				flush(t, inventory, order) // one trace at a time, so arrival order is known
				ids = append(ids, id)
			}

			traces, spans := c.Traces().Len()
			assert.Equal(t, tt.kept, traces)
			assert.Equal(t, 2*tt.kept, spans)
			assert.LessOrEqual(t, traces, tt.maxTraces)
			assert.LessOrEqual(t, spans, tt.maxSpans)

			var list traceList
			getJSON(t, srv.URL+"/api/traces?limit=1000", &list)
			var listed []string
			for _, s := range list.Traces {
				listed = append(listed, s.TraceID)
				assert.Equal(t, 2, s.SpanCount, "evicted traces go whole, kept ones stay whole")
			}
			assert.ElementsMatch(t, ids[len(ids)-tt.kept:], listed, "the newest traces are kept")
			for _, old := range ids[:len(ids)-tt.kept] {
				var p problem
				assert.Equal(t, http.StatusNotFound, getJSON(t, srv.URL+"/api/traces/"+old, &p), "the oldest are evicted")
			}
		})
	}
}

func TestOTLPReceiverRefusesWhatIsNotAnExport(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		status      int
		wantType    string
		message     string
	}{
		{"garbage protobuf", "application/x-protobuf", "", []byte("not a protobuf"), 400, "application/x-protobuf", "decode export request"},
		{"garbage JSON", "application/json", "", []byte("{"), 400, "application/json", "decode export request"},
		{"JSON with base64 ids", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ="}]}]}]}`), 400, "application/json", "want 16 bytes in hex"},
		{"JSON with a short hex trace id", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc6","spanId":"eee19b7ec3c1b174"}]}]}]}`), 400, "application/json", "traceId: want 16 bytes in hex"},
		{"JSON with a 32-digit id that is not hex", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc6zz","spanId":"eee19b7ec3c1b174"}]}]}]}`), 400, "application/json", "traceId: want 16 bytes in hex"},
		{"JSON with a bad parent span id", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b1"}]}]}]}`), 400, "application/json", "parentSpanId: want 8 bytes in hex"},
		{"JSON with a bad link", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"W47/95gDgQM="}]}]}]}]}`), 400, "application/json", "links.spanId: want 8 bytes in hex"},
		{"an unknown media type", "text/plain", "", []byte("hello"), 415, "application/json", "want application/x-protobuf or application/json"},
		{"an unknown encoding", "application/x-protobuf", "br", []byte{}, 415, "application/x-protobuf", `content encoding "br"`},
		{"a broken gzip stream", "application/x-protobuf", "gzip", []byte("not gzip"), 400, "application/x-protobuf", "gzip body"},
		{"a body over the cap", "application/x-protobuf", "", bytes.Repeat([]byte{0}, 2048), 413, "application/x-protobuf", "larger than 1024 bytes"},
		{"a gzip body that inflates over the cap", "application/x-protobuf", "gzip", gz(bytes.Repeat([]byte{0}, 1<<20)), 413, "application/x-protobuf", "larger than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := startConsole(t, Options{MaxExportBytes: 1024})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/traces", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode, string(body))
			assert.Equal(t, tt.wantType, resp.Header.Get("Content-Type"))

			var st statuspb.Status
			if tt.wantType == "application/json" {
				require.NoError(t, protojson.Unmarshal(body, &st), string(body))
			} else {
				require.NoError(t, proto.Unmarshal(body, &st))
			}
			assert.Contains(t, st.GetMessage(), tt.message)
			assert.Equal(t, int32(3), st.GetCode(), "INVALID_ARGUMENT")
			traces, _ := c.Traces().Len()
			assert.Zero(t, traces)
		})
	}
}

func TestOTLPReceiverReportsRejectedSpans(t *testing.T) {
	c, srv := startConsole(t, Options{MaxSpans: 2})
	good := func(span byte) *tracepb.Span {
		return &tracepb.Span{TraceId: bytes.Repeat([]byte{7}, 16), SpanId: bytes.Repeat([]byte{span}, 8), Name: "ok"}
	}
	export := &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			good(1), good(2),
			good(3), // the trace is at the span bound
			{TraceId: []byte{1, 2, 3}, SpanId: bytes.Repeat([]byte{4}, 8), Name: "short trace id"},
		}}},
	}}}
	body, err := proto.Marshal(export)
	require.NoError(t, err)
	resp, err := http.Post(srv.URL+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var answer collectortrace.ExportTraceServiceResponse
	require.NoError(t, proto.Unmarshal(out, &answer))
	assert.Equal(t, int64(2), answer.GetPartialSuccess().GetRejectedSpans())
	assert.NotEmpty(t, answer.GetPartialSuccess().GetErrorMessage())

	spans, ok := c.Traces().Get(strings.Repeat("07", 16))
	require.True(t, ok)
	assert.Len(t, spans, 2, "a trace keeps its first spans")
	assert.Equal(t, "unknown_service", spans[0].Service, "a resource without service.name")
}

func TestOTLPReceiverTakesConcurrentExports(t *testing.T) {
	c, srv := startConsole(t, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tp := serviceTracer(t, "svc"+strconv.Itoa(i), srv.URL)
			for range 10 {
				_, s := tp.Tracer("test").Start(t.Context(), "work")
				s.End()
			}
			assert.NoError(t, tp.ForceFlush(t.Context()))
		})
	}
	wg.Wait()
	traces, spans := c.Traces().Len()
	assert.Equal(t, 80, traces)
	assert.Equal(t, 80, spans)
}

func TestOTLPReceiverReadsUpperCaseHexAndSnakeCaseJSON(t *testing.T) {
	c, srv := startConsole(t, Options{})
	body := `{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174","parent_span_id":"","name":"x"}]}]}]}`
	resp, err := http.Post(srv.URL+"/v1/traces", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(out))
	spans, ok := c.Traces().Get("5b8efff798038103d269b633813fc60c")
	require.True(t, ok)
	assert.Equal(t, "eee19b7ec3c1b174", spans[0].SpanID)
	assert.Empty(t, spans[0].ParentSpanID, "an empty parent is a root")
}

func TestOTLPReceiverTruncatesLargeAttributesVisibly(t *testing.T) {
	_, srv := startConsole(t, Options{})
	tp := serviceTracer(t, "order", srv.URL)
	_, s := tp.Tracer("test").Start(t.Context(), "big", trace.WithAttributes(attribute.String("db.statement", strings.Repeat("SELECT 1;", 2000))))
	s.End()
	flush(t, tp)

	var detail traceDetailJSON
	require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/traces/"+s.SpanContext().TraceID().String(), &detail))
	require.Len(t, detail.Spans, 1)
	stmt, _ := detail.Spans[0]["attributes"].(map[string]any)["db.statement"].(string)
	assert.True(t, strings.HasPrefix(stmt, "SELECT 1;"))
	assert.True(t, strings.HasSuffix(stmt, fmt.Sprintf("…(truncated %d bytes)", 18000-MaxTextBytes)), "%.60q…", stmt[len(stmt)-60:])
}

func TestOTLPReceiverBoundsConcurrentExports(t *testing.T) {
	c, srv := startConsole(t, Options{MaxConcurrentExports: 1})
	export, err := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{1}, 8), Name: "a"}}}},
	}}})
	require.NoError(t, err)

	// post sends export whose body arrives only when the returned writer
	// is closed; the answer comes on the channel.
	type answer struct {
		status int
		err    error
	}
	post := func() (*io.PipeWriter, <-chan answer) {
		pr, pw := io.Pipe()
		done := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/traces", pr)
			req.Header.Set("Content-Type", "application/x-protobuf")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- answer{err: err}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- answer{status: resp.StatusCode}
		}()
		return pw, done
	}
	writeAll := func(pw *io.PipeWriter) {
		_, err := pw.Write(export)
		assert.NoError(t, err)
		assert.NoError(t, pw.Close())
	}

	// One export being read, one waiting for its turn: the receiver is full.
	reading, readingDone := post()
	require.Eventually(t, func() bool { return len(c.otlp.slots) == 1 }, 10*time.Second, time.Millisecond)
	waiting, waitingDone := post()
	require.Eventually(t, func() bool { return len(c.otlp.admitted) == 2 }, 10*time.Second, time.Millisecond)

	for _, media := range []string{"application/x-protobuf", "application/json"} {
		resp, err := http.Post(srv.URL+"/v1/traces", media, bytes.NewReader(export))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), "OTLP exporters wait this long before they retry")
		assert.Equal(t, media, resp.Header.Get("Content-Type"))
		var st statuspb.Status
		if media == "application/json" {
			require.NoError(t, protojson.Unmarshal(body, &st), string(body))
		} else {
			require.NoError(t, proto.Unmarshal(body, &st))
		}
		assert.Equal(t, int32(8), st.GetCode(), "RESOURCE_EXHAUSTED")
		assert.Contains(t, st.GetMessage(), "retry later")
	}
	assert.Equal(t, 1, len(c.otlp.slots), "the waiting export has not started reading")

	writeAll(reading)
	first := <-readingDone
	require.NoError(t, first.err)
	assert.Equal(t, http.StatusOK, first.status)
	writeAll(waiting)
	second := <-waitingDone
	require.NoError(t, second.err)
	assert.Equal(t, http.StatusOK, second.status, "a waiting export gets its turn")

	// With the receiver free again, an export goes through.
	resp, err := http.Post(srv.URL+"/v1/traces", "application/x-protobuf", bytes.NewReader(export))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	_, spans := c.Traces().Len()
	assert.Equal(t, 1, spans, "the same span three times is stored once")
}
