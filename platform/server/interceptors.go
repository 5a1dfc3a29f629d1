package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
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
	if cl, ok := ctx.Value(requestIDKey{}).(*call); ok {
		return cl.requestID
	}
	return ""
}

// AuthFunc authenticates one RPC and returns the context the handler gets.
type AuthFunc func(ctx context.Context, fullMethod string) (context.Context, error)

// chain is the one interceptor chain every protocol goes through: native
// gRPC directly, REST via the in-process gateway connection, gRPC-Web and
// Connect via the vanguard transcoder. Order, outermost first: tracing
// (once traceWith gives it a tracer; chain_trace.go), request id, metrics,
// access log, load shedding (and, for streams, the per-connection and
// process-wide bounds on Watch and reflection streams), recovery, deadline
// (default and cap), auth, validation, faults. The order is the list
// stages returns (chain.go), composed once by newChain.
type chain struct {
	service    string
	logger     *slog.Logger
	metrics    *rpcMetrics
	access     *accessLog
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

	// tracer and propagator start the calls' spans (traceWith); nil: the
	// gRPC server's stats handler does.
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator

	// unaryPath and streamPath are the stages composed around the handler.
	unaryPath, streamPath callFunc
}

// newChain builds the chain of one service from its config: its metrics
// (registered on reg), access log, validator and load-shedding limiter.
func newChain(base config.Base, logger *slog.Logger, reg prometheus.Registerer, auth AuthFunc, inj *faults.Injector) (*chain, error) {
	metrics, err := newRPCMetrics(reg, base.Service)
	if err != nil {
		return nil, fmt.Errorf("register rpc metrics: %w", err)
	}
	// The process-wide validator, shared with the event consumers: one CEL
	// environment and one cache of compiled rules per process (about 2 MB
	// and a few ms of start each), built by the first message validated.
	validator := protovalidate.GlobalValidator
	limiter, err := newLimiter(reg, base.Service, base.MaxInflight, base.ShedQueueTimeout)
	if err != nil {
		return nil, fmt.Errorf("load shedding: %w", err)
	}
	access, err := newAccessLog(logger, base.AccessLog)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	c := &chain{
		service: base.Service, logger: logger, metrics: metrics, access: access, limiter: limiter, auth: auth,
		validator: validator, faults: inj, rpcTimeout: base.RPCTimeout,
		rpcMaxTimeout: base.Surface.RPCMaxTimeout, watchStreamsPerConn: base.Surface.GRPCWatchStreamsPerConn,
		watchStreams: newWatchStreams(base.Streams.GRPCMaxWatchStreams),
		codec:        newRequestCodec(),
	}
	c.compose()
	return c, nil
}

// unary is the chain as a grpc.UnaryServerInterceptor.
func (c *chain) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	cl := newCall(ctx, info.FullMethod)
	cl.req, cl.handler = req, handler
	cl.undecodable = c.codec.decodeError(req) // taken first, so no refusal below leaves it recorded
	return c.unaryPath(ctx, cl)
}

// stream is the chain as a grpc.StreamServerInterceptor.
func (c *chain) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	cl := newCall(ctx, info.FullMethod)
	cl.srv, cl.ss, cl.streamHandler = srv, ss, handler
	_, err := c.streamPath(ctx, cl)
	return err
}

// callHandler ends the unary path: the service's handler.
func (c *chain) callHandler(ctx context.Context, cl *call) (any, error) {
	resp, err := cl.handler(ctx, cl.req)
	return resp, Status(err)
}

// callStreamHandler ends the stream path: the service's handler, given the
// chain's context and each received message decoded and validated.
func (c *chain) callStreamHandler(ctx context.Context, cl *call) (any, error) {
	return nil, Status(cl.streamHandler(cl.srv, &wrappedStream{ServerStream: cl.ss, ctx: ctx, validator: c.validator, codec: c.codec}))
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

// newRequestID returns 24 random hex digits. The runtime's generator
// (ChaCha8, seeded by the OS) is as unpredictable as a request id needs and
// costs no system call.
func newRequestID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64()) //nolint:gosec // a correlation id, not a secret (see above)
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32()) //nolint:gosec // likewise
	var id [24]byte
	hex.Encode(id[:], b[:])
	return string(id[:])
}
