package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// gatewayConn is the connection the REST gateway calls the services
// through (the generated Register…Handler wants a *grpc.ClientConn). It
// never connects: its unary interceptor dispatches every call in process
// (invoke) and never hands it on, so a REST call reaches the handler with
// no gRPC transport, no marshalling and no copy of a message.
func (d *dispatcher) gatewayConn() (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///in-process",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(d.invoke),
		grpc.WithStreamInterceptor(refuseStream),
	)
	if err != nil {
		return nil, fmt.Errorf("in-process gateway connection: %w", err)
	}
	return conn, nil
}

// invoke is the gateway connection's unary interceptor: it runs method in
// process and fills reply and the header and trailer call options, as the
// gateway expects of a call. The metadata the gateway built from the HTTP
// request becomes the call's incoming metadata, with the protocol tag
// forced to "rest" whatever the gateway forwarded; the context the handler
// gets carries no outgoing metadata, so nothing of the HTTP request leaks
// into the calls the handler makes to other services.
func (d *dispatcher) invoke(ctx context.Context, method string, req, reply any, _ *grpc.ClientConn, _ grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	md, _ := metadata.FromOutgoingContext(ctx) // a copy
	if md == nil {
		md = metadata.MD{}
	}
	md[protocolHeader] = []string{"rest"}
	ctx = metadata.NewOutgoingContext(metadata.NewIncomingContext(ctx, md), nil)

	resp, header, trailer, err := d.call(ctx, method, func(v any) error { return shallowCopy(v, req) })
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer
		}
	}
	if err != nil {
		return err
	}
	return shallowCopy(reply, resp)
}

// refuseStream is the gateway connection's stream interceptor: no REST
// route of a Slipway API streams, and a streaming call is not dispatched in
// process.
func refuseStream(_ context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, method string, _ grpc.Streamer, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Errorf(codes.Unimplemented, "%s streams; the REST gateway serves unary methods only", method)
}

// shallowCopy sets every populated field of src on dst, a message of the
// same type, sharing src's submessages, lists and maps rather than copying
// them: the gateway allocates the request for this one call and only reads
// the reply, so nothing is shared that either side changes afterwards.
func shallowCopy(dst, src any) error {
	d, ok1 := dst.(proto.Message)
	s, ok2 := src.(proto.Message)
	if !ok1 || !ok2 {
		return status.Errorf(codes.Internal, "in-process call: %T and %T are not protobuf messages", dst, src)
	}
	dm, sm := d.ProtoReflect(), s.ProtoReflect()
	if dm.Descriptor() != sm.Descriptor() {
		return status.Errorf(codes.Internal, "in-process call: %s is not %s", sm.Descriptor().FullName(), dm.Descriptor().FullName())
	}
	sm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dm.Set(fd, v)
		return true
	})
	if u := sm.GetUnknown(); len(u) > 0 {
		dm.SetUnknown(u)
	}
	return nil
}
