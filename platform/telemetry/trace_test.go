package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

// env returns a getenv over a fixed map, so tests never read the process
// environment.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func resourceAttr(tp *sdktrace.TracerProvider, ctx context.Context, key attribute.Key) (string, bool) {
	_, span := tp.Tracer("test").Start(ctx, "probe")
	defer span.End()
	ro, ok := span.(sdktrace.ReadOnlySpan)
	if !ok {
		return "", false
	}
	v, ok := ro.Resource().Set().Value(key)
	return v.AsString(), ok
}

func TestNewTracerProviderNoEndpoint(t *testing.T) {
	ctx := context.Background()
	tp, shutdown, err := telemetry.NewTracerProvider(ctx, "inventory", env(nil))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, shutdown(context.Background())) })

	_, span := tp.Tracer("test").Start(ctx, "op")
	defer span.End()
	sc := span.SpanContext()
	assert.True(t, sc.IsValid(), "trace and span ids must be real without an exporter")
	assert.True(t, sc.IsSampled(), "default sampler is parent-based always on")

	name, ok := resourceAttr(tp, ctx, "service.name")
	require.True(t, ok)
	assert.Equal(t, "inventory", name)
}

func TestNewTracerProviderEnv(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		env         map[string]string
		wantService string
		wantSampled bool
		wantAttr    map[attribute.Key]string
	}{
		{
			name:        "OTEL_SERVICE_NAME wins over the argument and resource attributes",
			env:         map[string]string{"OTEL_SERVICE_NAME": "renamed", "OTEL_RESOURCE_ATTRIBUTES": "service.name=attr,deployment.environment=dev"},
			wantService: "renamed",
			wantSampled: true,
			wantAttr:    map[attribute.Key]string{"deployment.environment": "dev"},
		},
		{
			name:        "service.name from resource attributes wins over the argument",
			env:         map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=attr,team=a%20b"},
			wantService: "attr",
			wantSampled: true,
			wantAttr:    map[attribute.Key]string{"team": "a b"},
		},
		{
			name:        "sampler always_off",
			env:         map[string]string{"OTEL_TRACES_SAMPLER": "always_off"},
			wantSampled: false,
		},
		{
			name:        "traceidratio zero",
			env:         map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
			wantSampled: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, shutdown, err := telemetry.NewTracerProvider(ctx, "order", env(tt.env))
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, shutdown(context.Background())) })

			if tt.wantService != "" {
				// Only a sampled (recording) span exposes its resource.
				name, ok := resourceAttr(tp, ctx, "service.name")
				require.True(t, ok)
				assert.Equal(t, tt.wantService, name)
			}
			for k, want := range tt.wantAttr {
				got, ok := resourceAttr(tp, ctx, k)
				assert.True(t, ok, k)
				assert.Equal(t, want, got, k)
			}
			_, span := tp.Tracer("test").Start(ctx, "op")
			span.End()
			assert.True(t, span.SpanContext().IsValid())
			assert.Equal(t, tt.wantSampled, span.SpanContext().IsSampled())
		})
	}
}

func TestNewTracerProviderErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "unknown sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, wantErr: `OTEL_TRACES_SAMPLER="sometimes"`},
		{name: "bad ratio", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, wantErr: `OTEL_TRACES_SAMPLER_ARG="2"`},
		{name: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, wantErr: `OTEL_EXPORTER_OTLP_ENDPOINT="collector:4317"`},
		{name: "unknown protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="http/json"`},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: `OTEL_TRACES_EXPORTER="zipkin"`},
		{name: "bad resource attributes", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, wantErr: "OTEL_RESOURCE_ATTRIBUTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, shutdown, err := telemetry.NewTracerProvider(context.Background(), "order", env(tt.env))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Nil(t, tp)
			assert.Nil(t, shutdown)
		})
	}
}

// TestNewTracerProviderExportsHTTP checks that spans reach an OTLP/HTTP
// endpoint at <base>/v1/traces and that shutdown flushes them.
func TestNewTracerProviderExportsHTTP(t *testing.T) {
	tests := []struct {
		name     string
		env      func(url string) map[string]string
		wantPath string
	}{
		{
			name:     "generic endpoint gets the signal path",
			env:      func(u string) map[string]string { return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u} },
			wantPath: "/v1/traces",
		},
		{
			name: "traces endpoint is used as is",
			env: func(u string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": u + "/custom", "OTEL_EXPORTER_OTLP_HEADERS": "x-token=abc"}
			},
			wantPath: "/custom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan *http.Request, 10)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(srv.Close)

			ctx := context.Background()
			tp, shutdown, err := telemetry.NewTracerProvider(ctx, "order", env(tt.env(srv.URL)))
			require.NoError(t, err)
			_, span := tp.Tracer("test").Start(ctx, "op")
			span.End()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			require.NoError(t, shutdown(sctx))

			select {
			case r := <-got:
				assert.Equal(t, tt.wantPath, r.URL.Path)
				assert.Equal(t, "application/x-protobuf", r.Header.Get("Content-Type"))
				if tt.wantPath == "/custom" {
					assert.Equal(t, "abc", r.Header.Get("x-token"))
				}
			default:
				t.Fatal("no export request reached the collector")
			}
		})
	}
}

func TestNewTracerProviderExporterNone(t *testing.T) {
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests++ }))
	t.Cleanup(srv.Close)

	ctx := context.Background()
	tp, shutdown, err := telemetry.NewTracerProvider(ctx, "order", env(map[string]string{
		"OTEL_TRACES_EXPORTER":        "none",
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
	}))
	require.NoError(t, err)
	_, span := tp.Tracer("test").Start(ctx, "op")
	span.End()
	require.NoError(t, shutdown(ctx))
	assert.True(t, span.SpanContext().IsValid())
	srv.Close() // waits for any request in flight
	assert.Zero(t, requests, "OTEL_TRACES_EXPORTER=none sends nothing")
}

func TestPropagator(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()

	carrier := propagation.MapCarrier{}
	telemetry.Propagator().Inject(ctx, carrier)
	require.NotEmpty(t, carrier.Get("traceparent"))

	got := trace.SpanContextFromContext(telemetry.Propagator().Extract(context.Background(), carrier))
	assert.Equal(t, span.SpanContext().TraceID(), got.TraceID())
	assert.Equal(t, span.SpanContext().SpanID(), got.SpanID())
	assert.Contains(t, telemetry.Propagator().Fields(), "baggage")
}

func TestNewRegistry(t *testing.T) {
	reg := telemetry.NewRegistry()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	assert.True(t, names["go_goroutines"], "go collector")
	assert.True(t, names["process_start_time_seconds"], "process collector")

	// Each call is independent: registering the same collector on two
	// registries must not collide as it would on the global one.
	assert.NotSame(t, reg, telemetry.NewRegistry())
}
