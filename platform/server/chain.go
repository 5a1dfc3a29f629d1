package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// call is one RPC on its way through the chain's stages. From the request
// id stage down it is also the context the stages pass on (it embeds the
// context it got), so RequestID finds the id without a context.WithValue
// on every call.
type call struct {
	context.Context
	method    string // "/pkg.Service/Method"
	protocol  protocol
	requestID string
	start     time.Time
	end       time.Time // stamped by elapsed, so metrics and the access log agree
	peer      string    // set by peerAddr
	peerRead  bool

	// A unary call's request, handler, and the decode error its request
	// message left (nil: it decoded).
	req         any
	handler     grpc.UnaryHandler
	undecodable error

	// A stream's service, stream and handler.
	srv           any
	ss            grpc.ServerStream
	streamHandler grpc.StreamHandler
}

func newCall(ctx context.Context, fullMethod string) *call {
	return &call{Context: ctx, method: fullMethod, protocol: protocolOf(ctx), start: time.Now()}
}

// Value answers RequestID's key with the call itself.
func (cl *call) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return cl
	}
	return cl.Context.Value(key)
}

// elapsed is the time from the call's start to the first time it is asked.
func (cl *call) elapsed() time.Duration {
	if cl.end.IsZero() {
		cl.end = time.Now()
	}
	return cl.end.Sub(cl.start)
}

// peerAddr is the address of the call's peer ("" when unknown), formatted
// once for the span and the access log.
func (cl *call) peerAddr(ctx context.Context) string {
	if !cl.peerRead {
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			cl.peer = peerString(p.Addr)
		}
		cl.peerRead = true
	}
	return cl.peer
}

// callFunc runs the rest of the chain for one call: the stages below and
// then the handler. A stream's callFunc returns no response.
type callFunc func(ctx context.Context, cl *call) (any, error)

// callKind is the kinds of call a stage applies to.
type callKind uint8

const (
	unaryCall callKind = 1 << iota
	streamCall
	anyCall = unaryCall | streamCall
)

// stage is one step of the chain: wrap returns the step in front of next.
type stage struct {
	name  string
	kinds callKind
	wrap  func(next callFunc) callFunc
}

// stages is the chain, outermost first. Reordering it reorders the chain;
// each stage reads from the call only what the stages before it have set
// (the method, protocol and start come with the call).
func (c *chain) stages() []stage {
	return []stage{
		{"tracing", anyCall, c.tracingStage},
		{"request id", anyCall, c.requestIDStage},
		{"metrics", anyCall, c.metricsStage},
		{"access log", anyCall, c.accessLogStage},
		{"watch stream bounds", streamCall, c.watchStreamStage},
		{"load shedding", anyCall, c.shedStage},
		{"recovery", anyCall, c.recoveryStage},
		{"deadline", unaryCall, c.deadlineStage},
		{"auth", anyCall, c.authStage},
		{"validation", unaryCall, c.validationStage},
		{"faults", anyCall, c.faultsStage},
	}
}

// compose builds the unary and stream paths from the stages.
func (c *chain) compose() {
	stages := c.stages()
	c.unaryPath = nest(stages, unaryCall, c.callHandler)
	c.streamPath = nest(stages, streamCall, c.callStreamHandler)
}

// nest nests the stages of kind around final, once, so a call pays one
// function call per stage and nothing to walk the list.
func nest(stages []stage, kind callKind, final callFunc) callFunc {
	h := final
	for i := len(stages) - 1; i >= 0; i-- {
		if stages[i].kinds&kind != 0 {
			h = stages[i].wrap(h)
		}
	}
	return h
}

// requestIDStage assigns the request id (the caller's, if sane) and echoes
// it back in the response header.
func (c *chain) requestIDStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (any, error) {
		id := incoming(ctx, RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		cl.requestID = id
		_ = grpc.SetHeader(ctx, metadata.MD{RequestIDHeader: []string{id}})
		cl.Context = ctx
		return next(cl, cl)
	}
}

// metricsStage records the RED metrics.
func (c *chain) metricsStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (resp any, err error) {
		inFlight := c.metrics.inFlightOf(cl.protocol)
		inFlight.Inc()
		defer func() {
			inFlight.Dec()
			c.metrics.observe(cl.method, cl.protocol, status.Code(err), cl.elapsed())
		}()
		return next(ctx, cl)
	}
}

// accessLogStage writes the access log line of the call (accesslog.go).
func (c *chain) accessLogStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (resp any, err error) {
		defer func() { c.access.record(ctx, cl, err) }()
		return next(ctx, cl)
	}
}

// watchStreamStage bounds the health Watch and reflection streams of one
// connection and of the process.
func (c *chain) watchStreamStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (any, error) {
		release, err := acquireWatchStream(ctx, cl.method, c.watchStreamsPerConn, c.watchStreams)
		if err != nil {
			return nil, err
		}
		defer release()
		return next(ctx, cl)
	}
}

// shedStage holds a slot of the limiter for the call (a stream holds it
// for as long as it is open), or sheds the call.
func (c *chain) shedStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (any, error) {
		held, err := c.limiter.acquire(ctx, cl.method)
		if err != nil {
			return nil, Status(err)
		}
		if held {
			defer c.limiter.release()
		}
		return next(ctx, cl)
	}
}

// recoveryStage turns a panic below it into Internal and logs its stack.
func (c *chain) recoveryStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				c.logger.ErrorContext(ctx, "panic in handler",
					"method", cl.method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()),
					"request_id", cl.requestID)
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return next(ctx, cl)
	}
}

// deadlineStage gives a unary call without a deadline the default one, and
// caps the deadline of the others.
func (c *chain) deadlineStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (any, error) {
		ctx, cancel := capDeadline(ctx, c.rpcTimeout, c.rpcMaxTimeout)
		defer cancel()
		return next(ctx, cl)
	}
}

// authStage authenticates the call; without an AuthFunc it is no stage.
func (c *chain) authStage(next callFunc) callFunc {
	if c.auth == nil {
		return next
	}
	return func(ctx context.Context, cl *call) (any, error) {
		ctx, err := c.auth(ctx, cl.method)
		if err != nil {
			return nil, Status(err)
		}
		return next(ctx, cl)
	}
}

// validationStage refuses a request that did not decode or that breaks
// its message's protovalidate rules, with InvalidArgument and the fields.
// A stream's messages are checked as they arrive (wrappedStream).
func (c *chain) validationStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (any, error) {
		if cl.undecodable != nil {
			return nil, cl.undecodable
		}
		if msg, ok := cl.req.(proto.Message); ok && c.validator != nil {
			if err := c.validator.Validate(msg); err != nil {
				return nil, Status(err)
			}
		}
		return next(ctx, cl)
	}
}

// faultsStage injects the faults an operator has turned on.
func (c *chain) faultsStage(next callFunc) callFunc {
	return func(ctx context.Context, cl *call) (any, error) {
		if err := c.faults.Apply(ctx, cl.method); err != nil {
			return nil, err
		}
		return next(ctx, cl)
	}
}

// protocol is the protocol that carried a call, as metrics and logs name it.
type protocol uint8

const (
	protocolGRPC protocol = iota
	protocolREST
	protocolGRPCWeb
	protocolConnect
	protocolGRPCHTTP
	numProtocols
)

var protocolNames = [numProtocols]string{"grpc", "rest", "grpc-web", "connect", "grpc-http"}

func (p protocol) String() string { return protocolNames[p] }

// protocolOf reads the protocol the HTTP listener recorded; a call without
// one (or with a name it never writes) came over native gRPC.
func protocolOf(ctx context.Context) protocol {
	name := incoming(ctx, protocolHeader)
	for p := protocolREST; p < numProtocols; p++ {
		if name == protocolNames[p] {
			return p
		}
	}
	return protocolGRPC
}

// incoming is the first value of the incoming metadata key, or "". Unlike
// metadata.FromIncomingContext it copies no more than the one value.
func incoming(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
