package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/slipway-dev/slipway/platform/telemetry"
)

// lines decodes each JSON line the logger wrote.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

func TestLoggerTraceIDs(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	sc := span.SpanContext()
	require.True(t, sc.IsValid())

	tests := []struct {
		name      string
		ctx       context.Context
		log       func(l *slog.Logger, ctx context.Context)
		wantTrace bool
		check     func(t *testing.T, line map[string]any)
	}{
		{
			name:      "inside a span",
			ctx:       ctx,
			log:       func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello", "k", "v") },
			wantTrace: true,
			check: func(t *testing.T, line map[string]any) {
				assert.Equal(t, "v", line["k"])
			},
		},
		{
			name:      "outside a span",
			ctx:       context.Background(),
			log:       func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
			wantTrace: false,
		},
		{
			name: "with attrs keeps them",
			ctx:  ctx,
			log: func(l *slog.Logger, ctx context.Context) {
				l.With("request_id", "r1").InfoContext(ctx, "hello")
			},
			wantTrace: true,
			check: func(t *testing.T, line map[string]any) {
				assert.Equal(t, "r1", line["request_id"])
			},
		},
		{
			name: "ids stay top level inside a group",
			ctx:  ctx,
			log: func(l *slog.Logger, ctx context.Context) {
				l.With("a", 1).WithGroup("rpc").With("method", "Get").InfoContext(ctx, "hello", "code", "OK")
			},
			wantTrace: true,
			check: func(t *testing.T, line map[string]any) {
				assert.InDelta(t, 1, line["a"], 0)
				rpc, ok := line["rpc"].(map[string]any)
				require.True(t, ok, "rpc group: %v", line)
				assert.Equal(t, map[string]any{"method": "Get", "code": "OK"}, rpc)
			},
		},
		{
			name: "group outside a span",
			ctx:  context.Background(),
			log: func(l *slog.Logger, ctx context.Context) {
				l.WithGroup("rpc").InfoContext(ctx, "hello", "code", "OK")
			},
			wantTrace: false,
			check: func(t *testing.T, line map[string]any) {
				assert.Equal(t, map[string]any{"code": "OK"}, line["rpc"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(telemetry.NewLogger(&buf, "order", slog.LevelInfo), tt.ctx)
			got := lines(t, &buf)
			require.Len(t, got, 1)
			line := got[0]
			assert.Equal(t, "order", line["service"])
			assert.Equal(t, "hello", line["msg"])
			if tt.wantTrace {
				assert.Equal(t, sc.TraceID().String(), line["trace_id"])
				assert.Equal(t, sc.SpanID().String(), line["span_id"])
			} else {
				assert.NotContains(t, line, "trace_id")
				assert.NotContains(t, line, "span_id")
			}
			if tt.check != nil {
				tt.check(t, line)
			}
		})
	}
}

func TestLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	l := telemetry.NewLogger(&buf, "user", slog.LevelWarn)
	l.Info("dropped")
	l.Warn("kept")
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.Equal(t, "kept", got[0]["msg"])
	assert.False(t, l.Enabled(context.Background(), slog.LevelInfo))
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "INFO", want: slog.LevelInfo},
		{in: "warn", want: slog.LevelWarn},
		{in: "warning", want: slog.LevelWarn},
		{in: " error ", want: slog.LevelError},
		{in: "", wantErr: true},
		{in: "verbose", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := telemetry.ParseLevel(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "want debug, info, warn or error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
