package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/config"
)

// accessLog writes one "rpc" line per call it keeps: method, code,
// protocol, duration_us, request_id, peer, and for a failed call its
// error (and the cause of an Internal or Unavailable one). It keeps every
// failed call and every call of at least slow; of the successful faster
// ones, it keeps the fraction sample.
type accessLog struct {
	logger *slog.Logger
	sample float64
	slow   time.Duration
}

func newAccessLog(logger *slog.Logger, cfg config.AccessLog) (*accessLog, error) {
	if !(cfg.AccessLogSample >= 0 && cfg.AccessLogSample <= 1) {
		return nil, fmt.Errorf("sample %v: want a fraction from 0 to 1", cfg.AccessLogSample)
	}
	if cfg.AccessLogSlow <= 0 {
		return nil, fmt.Errorf("slow %v: must be greater than 0", cfg.AccessLogSlow)
	}
	return &accessLog{logger: logger, sample: cfg.AccessLogSample, slow: cfg.AccessLogSlow}, nil
}

// record writes the line of cl, which ended with err, if it keeps it and
// the logger is enabled at its level. It builds no attribute before then.
func (a *accessLog) record(ctx context.Context, cl *call, err error) {
	code := status.Code(err)
	elapsed := cl.elapsed()
	if code == codes.OK && elapsed < a.slow && !a.sampled() {
		return
	}
	level := accessLevel(cl.method, code)
	h := a.logger.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	attrs := [8]slog.Attr{
		slog.String("method", cl.method),
		slog.String("code", code.String()),
		slog.String("protocol", cl.protocol.String()),
		slog.Int64("duration_us", elapsed.Microseconds()),
		slog.String("request_id", cl.requestID),
	}
	n := 5
	if p := cl.peerAddr(ctx); p != "" {
		attrs[n] = slog.String("peer", p)
		n++
	}
	if err != nil {
		attrs[n] = slog.String("error", status.Convert(err).Message())
		n++
		if cause := errors.Unwrap(err); cause != nil && (code == codes.Internal || code == codes.Unavailable) {
			attrs[n] = slog.String("cause", cause.Error())
			n++
		}
	}
	// The record goes to the handler directly: Logger.LogAttrs would walk
	// the stack for a source location the handler never writes, and read
	// the clock again for the time the call ended.
	r := slog.NewRecord(cl.end, level, "rpc", 0)
	r.AddAttrs(attrs[:n]...)
	_ = h.Handle(ctx, r)
}

// sampled reports whether a successful fast call is kept.
func (a *accessLog) sampled() bool {
	return a.sample >= 1 || (a.sample > 0 && rand.Float64() < a.sample) //nolint:gosec // log sampling needs no secret randomness
}

// accessLevel is the level of a call's line: Error for the codes that mean
// a bug or an outage here, Warn for the other failures, Info for the rest
// but Debug for health checks and reflection, whose probes every few
// seconds would drown the access log.
func accessLevel(fullMethod string, code codes.Code) slog.Level {
	switch code {
	case codes.OK, codes.Canceled:
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return slog.LevelError
	default:
		return slog.LevelWarn
	}
	if strings.HasPrefix(fullMethod, "/grpc.health.") || strings.HasPrefix(fullMethod, "/grpc.reflection.") {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// peerString is a.String(), in one allocation instead of three for a TCP
// address.
func peerString(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok && t.Zone == "" {
		if ip, ok := netip.AddrFromSlice(t.IP); ok && t.Port >= 0 && t.Port <= 0xffff {
			return netip.AddrPortFrom(ip.Unmap(), uint16(t.Port)).String()
		}
	}
	return a.String()
}
