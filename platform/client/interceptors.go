package client

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
)

// defaultDeadline gives a unary call without a deadline one of d.
func defaultDeadline(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// outgoingMetadata adds what the peer needs to know about a call: the request
// id it belongs to and, when the caller proves which service it is (a token
// source, or its certificate under mutual TLS), who is calling for whom.
type outgoingMetadata struct {
	tokens    TokenSource
	certified bool
}

func (m outgoingMetadata) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, err := m.annotate(ctx)
	if err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (m outgoingMetadata) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := m.annotate(ctx)
	if err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// annotate returns ctx with the outgoing metadata of the call. Values the
// caller already put in the outgoing metadata are replaced for
// authorization and on-behalf-of (the token source decides who calls) and
// kept for the request id.
func (m outgoingMetadata) annotate(ctx context.Context) (context.Context, error) {
	out, _ := metadata.FromOutgoingContext(ctx)
	out = out.Copy()
	if len(out.Get(server.RequestIDHeader)) == 0 {
		if id := requestID(ctx); id != "" {
			out.Set(server.RequestIDHeader, id)
		}
	}
	if m.tokens != nil {
		token, err := m.tokens.Token(ctx)
		if err != nil {
			return ctx, tokenError(err)
		}
		out.Set("authorization", "Bearer "+token)
	}
	if m.tokens != nil || m.certified {
		out.Delete(auth.OnBehalfOfHeader)
		if user := onBehalfOf(ctx); user != "" {
			out.Set(auth.OnBehalfOfHeader, user)
		}
	}
	return metadata.NewOutgoingContext(ctx, out), nil
}

// requestID is the id of the request ctx serves: the one the server chain
// assigned, else the one the caller sent.
func requestID(ctx context.Context) string {
	if id := server.RequestID(ctx); id != "" {
		return id
	}
	in, _ := metadata.FromIncomingContext(ctx)
	if ids := in.Get(server.RequestIDHeader); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// onBehalfOf names the end user behind the request ctx serves: the caller
// itself, or the user a calling service acts for. A service calling for
// itself is nobody's agent, so nothing is sent.
func onBehalfOf(ctx context.Context) string {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return ""
	}
	if c.OnBehalfOf == "" && c.Role == auth.RoleService {
		return ""
	}
	return auth.Actor(c)
}

// tokenError turns a token source's failure into the status of the call.
func tokenError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Unavailable, "client: no service token: %v", err)
}
