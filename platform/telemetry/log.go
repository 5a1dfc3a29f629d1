package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys that tie a log line to its service and trace. They are
// top level so log stores and trace UIs can join on them without knowing a
// service's groups.
const (
	keyService = "service"
	keyTraceID = "trace_id"
	keySpanID  = "span_id"
)

// NewLogger returns a JSON logger that writes records at level and above to w.
// Every line carries "service"; a line logged with a context that holds a
// valid span also carries "trace_id" and "span_id", so logs written inside a
// request can be found from its trace.
func NewLogger(w io.Writer, service string, level slog.Level) *slog.Logger {
	base := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}).
		WithAttrs([]slog.Attr{slog.String(keyService, service)})
	return slog.New(&traceHandler{base: base, cur: base})
}

// ParseLevel parses a log level name: debug, info, warn (or warning) or
// error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q: want debug, info, warn or error", s)
}

// traceHandler adds the span of the record's context to each record.
//
// slog puts attributes added at Handle time inside the groups opened with
// WithGroup, but trace_id and span_id must stay at the top level. So the
// handler remembers the WithAttrs/WithGroup calls and, only when a group is
// open and the context holds a span, replays them on top of a base that
// already carries the ids. The common case (no group) just appends the ids.
type traceHandler struct {
	base    slog.Handler // the JSON handler with the service attribute only
	cur     slog.Handler // base with ops applied
	ops     []handlerOp
	grouped bool
}

// handlerOp is one WithAttrs (group == "") or WithGroup call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

// Enabled defers to the JSON handler's level.
func (h *traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.cur.Enabled(ctx, level)
}

// Handle writes r, with the trace and span ids of ctx's span if it has one.
func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.cur.Handle(ctx, r)
	}
	ids := []slog.Attr{
		slog.String(keyTraceID, sc.TraceID().String()),
		slog.String(keySpanID, sc.SpanID().String()),
	}
	if !h.grouped {
		// Clone: the record may be shared with other handlers, and
		// AddAttrs can write into its shared backing array.
		r = r.Clone()
		r.AddAttrs(ids...)
		return h.cur.Handle(ctx, r)
	}
	out := h.base.WithAttrs(ids)
	for _, op := range h.ops {
		out = op.apply(out)
	}
	return out.Handle(ctx, r)
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(handlerOp{attrs: attrs})
}

// WithGroup returns a handler that puts later attributes under name.
func (h *traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(handlerOp{group: name})
}

func (h *traceHandler) with(op handlerOp) *traceHandler {
	// Full slice expression so siblings derived from h never share appends.
	ops := append(h.ops[:len(h.ops):len(h.ops)], op)
	return &traceHandler{
		base:    h.base,
		cur:     op.apply(h.cur),
		ops:     ops,
		grouped: h.grouped || op.group != "",
	}
}

func (op handlerOp) apply(h slog.Handler) slog.Handler {
	if op.group != "" {
		return h.WithGroup(op.group)
	}
	return h.WithAttrs(op.attrs)
}
