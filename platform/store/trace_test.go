package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// requestSpan starts a span as a server's request span would, from a
// provider that records every span it ends.
func requestSpan(t *testing.T) (context.Context, trace.Span, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	return ctx, span, rec
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestSpans(t *testing.T) {
	systems := map[store.Dialect]string{store.SQLite: "sqlite", store.Postgres: "postgresql"}
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			db := openWithItems(t, d)
			ctx, req, rec := requestSpan(t)

			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
				// Statements inside a transaction make no span of their own.
				return insertItem(ctx, tx, "i1", "sku-1", 3)
			}))
			var stock int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT stock FROM items WHERE id = $1", "i1").Scan(&stock))
			_, err := db.ExecContext(ctx, "  UPDATE items SET stock = stock - 1 WHERE id = $1", "i1")
			require.NoError(t, err)
			req.End()

			spans := rec.Ended()
			require.Len(t, spans, 4, "a transaction, a query, an exec and the request")
			names := []string{spans[0].Name(), spans[1].Name(), spans[2].Name()}
			assert.Equal(t, []string{"TRANSACTION", "SELECT", "UPDATE"}, names)
			for _, s := range spans[:3] {
				assert.Equal(t, trace.SpanKindClient, s.SpanKind(), s.Name())
				assert.Equal(t, req.SpanContext().SpanID(), s.Parent().SpanID(), "%s is a child of the request", s.Name())
				assert.Equal(t, req.SpanContext().TraceID(), s.SpanContext().TraceID())
				a := attrs(s)
				assert.Equal(t, systems[d], a["db.system.name"].AsString(), s.Name())
				assert.NotEmpty(t, a["db.namespace"].AsString(), s.Name())
				assert.Equal(t, codes.Unset, s.Status().Code, s.Name())
				if d == store.Postgres {
					assert.NotEmpty(t, a["server.address"].AsString(), s.Name())
					assert.NotZero(t, a["server.port"].AsInt64(), s.Name())
				} else {
					assert.NotContains(t, a, attribute.Key("server.address"), "SQLite has no server")
				}
			}
			assert.NotContains(t, attrs(spans[0]), attribute.Key("db.operation.name"), "a transaction has no one operation")
			assert.Equal(t, "SELECT", attrs(spans[1])["db.operation.name"].AsString())
			assert.Equal(t, "UPDATE", attrs(spans[2])["db.operation.name"].AsString())
		})
	}
}

func TestSpansRecordErrors(t *testing.T) {
	db := openWithItems(t, store.SQLite)
	ctx, req, rec := requestSpan(t)
	defer req.End()

	errAbort := errors.New("abort: POST https://hook-user:hook-pass@hooks.example.com/T0SECRET failed")
	require.ErrorIs(t, db.InTx(ctx, func(*sql.Tx) error { return errAbort }), errAbort)
	_, err := db.ExecContext(ctx, "INSERT INTO missing (id) VALUES ($1)", "x")
	require.Error(t, err)

	spans := rec.Ended()
	require.Len(t, spans, 2)
	for _, s := range spans {
		assert.Equal(t, codes.Error, s.Status().Code, s.Name())
		assert.NotEmpty(t, attrs(s)["error.type"].AsString(), s.Name())
	}
	// A span leaves the process: it carries the error's kind, never its
	// message, which may quote a secret.
	assert.Equal(t, "_OTHER", spans[0].Status().Description)
	for _, s := range spans {
		assert.Empty(t, s.Events(), "no exception event with the error's message: %s", s.Name())
		for _, kv := range s.Attributes() {
			assert.NotContains(t, kv.Value.String(), "hook-pass", s.Name())
		}
		assert.NotContains(t, s.Status().Description, "T0SECRET", s.Name())
	}
	assert.Equal(t, "SQLITE_1", attrs(spans[1])["error.type"].AsString(), "SQLite's result code (SQLITE_ERROR: no such table)")
}

func TestSpansNeedARequestSpan(t *testing.T) {
	db := openWithItems(t, store.SQLite)
	_, req, rec := requestSpan(t)
	req.End()

	// No span in the context: background work, or no tracing configured.
	ctx := context.Background()
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, "i1", "sku-1", 1) }))
	assert.Equal(t, 1, countItems(t, db))

	assert.Len(t, rec.Ended(), 1, "only the request span: no database span without a parent")
}

func TestSpansCountRetries(t *testing.T) {
	db := openWithItems(t, store.SQLite)
	ctx, req, rec := requestSpan(t)
	defer req.End()

	attempts := 0
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
		if attempts++; attempts < 3 {
			return &pgconn.PgError{Code: "40001"} // a serialization failure
		}
		return nil
	}))

	spans := rec.Ended()
	require.Len(t, spans, 1)
	events := spans[0].Events()
	require.Len(t, events, 2, "one event per retry")
	for _, e := range events {
		assert.Equal(t, "retry", e.Name)
		assert.Contains(t, e.Attributes, attribute.String("slipway.db.retry.cause", "contention"))
	}
}
