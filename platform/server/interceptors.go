package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/faults"
)

// Metadata keys the platform reads and writes.
const (
	// RequestIDHeader carries the request id in both directions.
	RequestIDHeader = "x-request-id"
	// protocolHeader is set by the HTTP listener (never trusted from outside)
	// so metrics and logs can tell REST, gRPC-Web and Connect apart.
	protocolHeader = "x-slipway-protocol"
)

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// AuthFunc authenticates one RPC and returns the context the handler gets.
type AuthFunc func(ctx context.Context, fullMethod string) (context.Context, error)

// chain is the one interceptor chain every protocol goes through: native
// gRPC directly, REST via the in-process gateway connection, gRPC-Web and
// Connect via the vanguard transcoder. Order, outermost first: request id,
// metrics, access log, load shedding (and, for streams, the per-connection
// and process-wide bounds on Watch and reflection streams), recovery,
// deadline (default and cap), auth, validation, faults.
type chain struct {
	service    string
	logger     *slog.Logger
	metrics    *rpcMetrics
	limiter    *limiter
	auth       AuthFunc
	validator  protovalidate.Validator
	faults     *faults.Injector
	rpcTimeout time.Duration
	// rpcMaxTimeout caps a unary RPC's deadline (0: no cap).
	rpcMaxTimeout time.Duration
	// watchStreamsPerConn bounds the health Watch and reflection streams of
	// one connection.
	watchStreamsPerConn int
	// watchStreams bounds the health Watch and reflection streams of the
	// whole process (nil: no bound).
	watchStreams *watchStreams
	// codec records the request messages that did not decode (nil: none).
	codec *requestCodec
}

// newChain builds the chain of one service from its config: its metrics
// (registered on reg), validator and load-shedding limiter.
func newChain(base config.Base, logger *slog.Logger, reg prometheus.Registerer, auth AuthFunc, inj *faults.Injector) (*chain, error) {
	metrics, err := newRPCMetrics(reg, base.Service)
	if err != nil {
		return nil, fmt.Errorf("register rpc metrics: %w", err)
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("build validator: %w", err)
	}
	limiter, err := newLimiter(reg, base.Service, base.MaxInflight, base.ShedQueueTimeout)
	if err != nil {
		return nil, fmt.Errorf("load shedding: %w", err)
	}
	return &chain{
		service: base.Service, logger: logger, metrics: metrics, limiter: limiter, auth: auth,
		validator: validator, faults: inj, rpcTimeout: base.RPCTimeout,
		rpcMaxTimeout: base.Surface.RPCMaxTimeout, watchStreamsPerConn: base.Surface.GRPCWatchStreamsPerConn,
		watchStreams: newWatchStreams(base.Streams.GRPCMaxWatchStreams),
		codec:        newRequestCodec(),
	}, nil
}

func (c *chain) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	undecodable := c.codec.decodeError(req) // taken first, so no refusal below leaves it recorded
	ctx, protocol := c.begin(ctx)
	start := time.Now()
	c.metrics.inFlight.WithLabelValues(protocol).Inc()
	defer func() {
		c.metrics.inFlight.WithLabelValues(protocol).Dec()
		c.finish(ctx, info.FullMethod, protocol, start, err)
	}()
	release, err := c.limiter.acquire(ctx, info.FullMethod)
	if err != nil {
		return nil, Status(err)
	}
	defer release()
	defer c.recover(ctx, info.FullMethod, &err)

	ctx, cancel := capDeadline(ctx, c.rpcTimeout, c.rpcMaxTimeout)
	defer cancel()
	authed, err := c.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, Status(err)
	}
	ctx = authed
	if undecodable != nil {
		return nil, undecodable
	}
	if msg, ok := req.(proto.Message); ok && c.validator != nil {
		if verr := c.validator.Validate(msg); verr != nil {
			return nil, Status(verr)
		}
	}
	if err = c.faults.Apply(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	resp, err = handler(ctx, req)
	return resp, Status(err)
}

func (c *chain) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	ctx, protocol := c.begin(ss.Context())
	start := time.Now()
	c.metrics.inFlight.WithLabelValues(protocol).Inc()
	defer func() {
		c.metrics.inFlight.WithLabelValues(protocol).Dec()
		c.finish(ctx, info.FullMethod, protocol, start, err)
	}()
	releaseWatch, err := acquireWatchStream(ctx, info.FullMethod, c.watchStreamsPerConn, c.watchStreams)
	if err != nil {
		return err
	}
	defer releaseWatch()
	release, err := c.limiter.acquire(ctx, info.FullMethod)
	if err != nil {
		return Status(err)
	}
	defer release() // a stream holds its slot for as long as it is open
	defer c.recover(ctx, info.FullMethod, &err)

	authed, err := c.authenticate(ctx, info.FullMethod)
	if err != nil {
		return Status(err)
	}
	ctx = authed
	if err = c.faults.Apply(ctx, info.FullMethod); err != nil {
		return err
	}
	return Status(handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx, validator: c.validator, codec: c.codec}))
}

// begin assigns the request id (the caller's, if sane) and echoes it back.
func (c *chain) begin(ctx context.Context) (context.Context, string) {
	md, _ := metadata.FromIncomingContext(ctx)
	id := first(md, RequestIDHeader)
	if !validRequestID(id) {
		id = newRequestID()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
	protocol := first(md, protocolHeader)
	switch protocol {
	case "rest", "grpc-web", "connect", "grpc-http":
	default:
		protocol = "grpc"
	}
	return context.WithValue(ctx, requestIDKey{}, id), protocol
}

func (c *chain) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	if c.auth == nil {
		return ctx, nil
	}
	return c.auth(ctx, fullMethod)
}

func (c *chain) recover(ctx context.Context, fullMethod string, err *error) {
	if r := recover(); r != nil {
		c.logger.ErrorContext(ctx, "panic in handler",
			"method", fullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()),
			"request_id", RequestID(ctx))
		*err = status.Error(codes.Internal, "internal error")
	}
}

// finish records the RED metrics and writes the access log line.
func (c *chain) finish(ctx context.Context, fullMethod, protocol string, start time.Time, err error) {
	elapsed := time.Since(start)
	svc, method := splitMethod(fullMethod)
	code := status.Code(err)
	c.metrics.requests.WithLabelValues(svc, method, code.String(), protocol).Inc()
	c.metrics.duration.WithLabelValues(svc, method, protocol).Observe(elapsed.Seconds())

	level := slog.LevelInfo
	if strings.HasPrefix(fullMethod, "/grpc.health.") || strings.HasPrefix(fullMethod, "/grpc.reflection.") {
		level = slog.LevelDebug // probes every few seconds would drown the access log
	}
	switch code {
	case codes.OK, codes.Canceled:
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		level = slog.LevelError
	default:
		level = slog.LevelWarn
	}
	attrs := []any{
		"method", fullMethod, "code", code.String(), "protocol", protocol,
		"duration_ms", float64(elapsed.Microseconds()) / 1000, "request_id", RequestID(ctx),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, "peer", p.Addr.String())
	}
	if err != nil {
		attrs = append(attrs, "error", status.Convert(err).Message())
		if cause := errors.Unwrap(err); cause != nil && (code == codes.Internal || code == codes.Unavailable) {
			attrs = append(attrs, "cause", cause.Error())
		}
	}
	c.logger.Log(ctx, level, "rpc", attrs...)
}

// wrappedStream gives the handler the chain's context, and refuses each
// message the client sends that does not decode or validate.
type wrappedStream struct {
	grpc.ServerStream
	ctx       context.Context
	validator protovalidate.Validator
	codec     *requestCodec
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (w *wrappedStream) RecvMsg(m any) error {
	if err := w.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := w.codec.decodeError(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok && w.validator != nil {
		if err := w.validator.Validate(msg); err != nil {
			return Status(err)
		}
	}
	return nil
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
