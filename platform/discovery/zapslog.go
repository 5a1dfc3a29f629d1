package discovery

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLogger is the zap logger the etcd client logs through: every entry of
// warn level and above goes to logger's handler, so it is written where and
// how the service's own lines are, with their attributes ("service"), and
// carries "logger": "etcd-client". (go.uber.org/zap/exp/zapslog goes the other
// way, slog over zap.)
func etcdLogger(logger *slog.Logger) *zap.Logger {
	h := logger.Handler().WithAttrs([]slog.Attr{slog.String("logger", "etcd-client")})
	return zap.New(&slogCore{h: h, min: zapcore.WarnLevel})
}

// slogCore is a zapcore.Core that hands each entry of min level and above to
// a slog.Handler.
type slogCore struct {
	h   slog.Handler
	min zapcore.Level
}

// Enabled reports whether l is at least min and the handler wants it.
func (c *slogCore) Enabled(l zapcore.Level) bool {
	return l >= c.min && c.h.Enabled(context.Background(), slogLevel(l))
}

// With returns a core whose entries carry fields.
func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	if len(fields) == 0 {
		return c
	}
	return &slogCore{h: c.h.WithAttrs(attrs(fields)), min: c.min}
}

// Check adds c to ce when the handler wants entries of ent's level.
func (c *slogCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write turns ent and fields into one slog record.
func (c *slogCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(ent.Time, slogLevel(ent.Level), ent.Message, 0)
	r.AddAttrs(attrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

// Sync has nothing to flush: the handler writes as it handles.
func (c *slogCore) Sync() error { return nil }

// slogLevel maps zap's levels onto slog's; DPanic, Panic and Fatal are errors
// (zap itself panics or exits after writing them).
func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l < zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// attrs encodes fields with zap's own encoder, so every field type (errors,
// durations, arrays, objects) has the value zap would log, in field order.
func attrs(fields []zapcore.Field) []slog.Attr {
	out := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		for k, v := range enc.Fields {
			out = append(out, slog.Any(k, v))
		}
	}
	return out
}
