// Package telemetry builds the three observability outputs every Slipway
// service writes: JSON logs (log/slog) that carry the trace of the request,
// OpenTelemetry traces, and a Prometheus registry.
//
// Nothing here is global: the logger, tracer provider and registry are
// returned to the caller, which passes them on as constructor arguments, so
// tests can build as many independent sets as they need.
package telemetry
