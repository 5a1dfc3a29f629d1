package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// NewTracerProvider builds a tracer provider from the standard OpenTelemetry
// environment variables, read through getenv so that tests and the dev runner
// can configure it without touching the process environment:
//
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
//     OTEL_EXPORTER_OTLP_ENDPOINT (a base URL; /v1/traces is appended for
//     HTTP): where to export. With neither set, nothing is exported, but
//     spans are still sampled and get real ids, so logs carry trace_id.
//   - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL:
//     "grpc" or "http/protobuf" (the default).
//   - OTEL_EXPORTER_OTLP_TRACES_HEADERS or OTEL_EXPORTER_OTLP_HEADERS:
//     key=value pairs, comma separated, values URL-encoded.
//   - OTEL_TRACES_EXPORTER: "otlp" (the default) or "none".
//   - OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES,
//     else service: the service.name resource attribute.
//   - OTEL_RESOURCE_ATTRIBUTES: more resource attributes, key=value pairs.
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG: the sampler; by
//     default parentbased_always_on.
//
// The returned function flushes buffered spans and stops the provider; call
// it last, after the servers have stopped. The provider is not installed
// globally: pass it to whatever creates spans.
//
// The SDK itself still merges the process's OTEL_RESOURCE_ATTRIBUTES under the
// resource built here (sdktrace.WithResource always does); values read through
// getenv win on conflict.
func NewTracerProvider(ctx context.Context, service string, getenv func(string) string) (*sdktrace.TracerProvider, func(context.Context) error, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	res, err := newResource(ctx, service, getenv)
	if err != nil {
		return nil, nil, err
	}
	sampler, err := newSampler(getenv)
	if err != nil {
		return nil, nil, err
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	}
	exp, err := newExporter(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// Propagator returns the W3C trace context and baggage propagator that every
// transport (gRPC, HTTP, NATS headers) uses to carry a trace across services.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

func newResource(ctx context.Context, service string, getenv func(string) string) (*resource.Resource, error) {
	attrs, err := parsePairs(getenv("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	name := service
	kvs := make([]attribute.KeyValue, 0, len(attrs)+1)
	for k, v := range attrs {
		if attribute.Key(k) == semconv.ServiceNameKey {
			name = v
			continue
		}
		kvs = append(kvs, attribute.String(k, v))
	}
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		name = v
	}
	kvs = append(kvs, semconv.ServiceName(name))
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithAttributes(kvs...),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		// A detector that fails (say, no hostname) loses one attribute,
		// not the traces.
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

func newSampler(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	ratio := 1.0
	if arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	}
	return nil, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or their parentbased_ forms", name)
}

// newExporter returns nil, nil when no endpoint is configured: the provider
// then samples and makes ids without sending anything anywhere.
func newExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	switch e := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); e {
	case "", "otlp":
	case "none":
		return nil, nil
	default:
		return nil, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q: want otlp or none", e)
	}

	endpointKey, endpoint := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	perSignal := endpoint != ""
	if !perSignal {
		endpointKey, endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT", getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The exporters silently fall back to localhost on a bad URL; a
		// typo must fail the start instead.
		return nil, fmt.Errorf("telemetry: %s=%q: want an http:// or https:// URL", endpointKey, endpoint)
	}

	headersKey, rawHeaders := "OTEL_EXPORTER_OTLP_TRACES_HEADERS", getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
	if rawHeaders == "" {
		headersKey, rawHeaders = "OTEL_EXPORTER_OTLP_HEADERS", getenv("OTEL_EXPORTER_OTLP_HEADERS")
	}
	headers, err := parsePairs(rawHeaders)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %s: %w", headersKey, err)
	}

	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch protocol {
	case "grpc":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(u.String())}
		if len(headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(headers))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp grpc exporter: %w", err)
		}
		return exp, nil
	case "", "http/protobuf":
		if !perSignal {
			// The generic endpoint is a base URL; the spec appends the
			// signal path to it.
			u = u.JoinPath("v1", "traces")
		}
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String())}
		if len(headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(headers))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp http exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_PROTOCOL=%q: want grpc or http/protobuf", protocol)
}

// parsePairs parses the OpenTelemetry "k1=v1,k2=v2" list format, with
// URL-encoded values.
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", item)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		out[k] = dv
	}
	return out, nil
}
