package store

import (
	"context"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName is the instrumentation scope of the database spans.
const tracerName = "github.com/slipway-dev/slipway/platform/store"

// txSpanName names the span of a whole InTx: its statements are not
// spanned one by one, so a transaction costs one span however many
// statements and attempts it takes.
const txSpanName = "TRANSACTION"

// endNothing ends the span that was not started.
func endNothing(error) {}

// startSpan starts a client span for one call to the database (a statement
// outside a transaction, or a whole InTx) when ctx carries a span: the new
// span is its child, made by the tracer provider that made it. Without one
// (no tracing configured, or work that no request started) nothing is
// created. query names the operation (its first keyword); "" is a
// transaction. The returned func ends the span, recording err.
func (db *DB) startSpan(ctx context.Context, query string) (context.Context, trace.Span, func(error)) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, noop.Span{}, endNothing
	}
	name := txSpanName
	attrs := db.spanAttrs
	if op := operation(query); op != "" {
		name = op
		attrs = append(attrs[:len(attrs):len(attrs)], semconv.DBOperationName(op))
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, span, func(err error) {
		if err != nil {
			// The error's kind only, never its message: an InTx fails with
			// whatever its function returned, which may quote a secret (a
			// webhook URL with its token), and spans leave the process.
			// Whoever returned the error records it, redacted, in its own
			// span.
			kind := errorType(err)
			span.SetStatus(codes.Error, kind)
			span.SetAttributes(semconv.ErrorTypeKey.String(kind))
		}
		span.End()
	}
}

// spanAttributes are the attributes every span of the database carries:
// its system, its name and, for PostgreSQL, its server.
func spanAttributes(dialect Dialect, namespace, host string, port uint16) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 4)
	switch dialect {
	case Postgres:
		attrs = append(attrs, semconv.DBSystemNamePostgreSQL)
	case SQLite:
		attrs = append(attrs, semconv.DBSystemNameSQLite)
	}
	if namespace != "" {
		attrs = append(attrs, semconv.DBNamespace(namespace))
	}
	if host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port != 0 {
			attrs = append(attrs, semconv.ServerPort(int(port)))
		}
	}
	return attrs
}

// operation is the statement's first keyword, upper case (SELECT, INSERT,
// WITH...), or "" when query has none.
func operation(query string) string {
	query = strings.TrimLeft(query, " \t\r\n(")
	end := strings.IndexFunc(query, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
	})
	if end < 0 {
		end = len(query)
	}
	return strings.ToUpper(query[:end])
}

// errorType is the span's error.type: the SQLSTATE or SQLite result code
// when the database gave one, else the Go type of the error.
func errorType(err error) string {
	if code, ok := pgCode(err); ok {
		return code
	}
	if code, ok := sqliteCode(err); ok {
		return "SQLITE_" + strconv.Itoa(code)
	}
	if ConnectionLost(err) {
		return "connection_lost"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}
