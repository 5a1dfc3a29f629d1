package store_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/platform/store"
)

// BenchmarkSpans is the cost of the database spans: a keyed read and a
// one-statement transaction on SQLite, without a span in the context (no
// tracing: no database span is made) and inside a request span of a
// sampling provider that exports nothing (one client span each).
func BenchmarkSpans(b *testing.B) {
	db := openWithItemsTB(b)
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	traced, req := tp.Tracer("bench").Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	b.Cleanup(func() { req.End() })

	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"trace=off", context.Background()}, {"trace=on", traced}} {
		b.Run("op=query/"+c.name, func(b *testing.B) {
			var stock int
			for b.Loop() {
				require.NoError(b, db.QueryRowContext(c.ctx, "SELECT stock FROM items WHERE id = $1", "i0").Scan(&stock))
			}
		})
		b.Run("op=tx/"+c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				require.NoError(b, db.InTx(c.ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(c.ctx, "UPDATE items SET stock = $1 WHERE id = $2", i, "i0")
					return err
				}))
			}
		})
	}
}

func openWithItemsTB(b *testing.B) *store.DB {
	b.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+b.TempDir()+"/bench.db", "bench", nil)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	require.NoError(b, db.Migrate(context.Background(), migrations(map[string]string{"0001_items.sql": schema})))
	for i := range 10 {
		_, err := db.ExecContext(context.Background(), "INSERT INTO items (id, sku, stock) VALUES ($1, $2, 1)", "i"+strconv.Itoa(i), "sku-"+strconv.Itoa(i))
		require.NoError(b, err)
	}
	return db
}
