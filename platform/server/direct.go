package server

import (
	"context"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// dispatcher calls the unary methods of the App's services in process, for
// the HTTP listener: each call runs the method's generated handler with the
// chain as its interceptor, exactly as the gRPC server would, but with no
// gRPC transport between the HTTP request and the handler (no marshalling,
// no HTTP/2 framing, no second connection). Streaming methods are not
// dispatched here; the HTTP listener hands them to the gRPC server.
type dispatcher struct {
	methods map[string]directMethod // by full method name, "/pkg.Service/Method"
	whole   map[string]bool         // the services with no streaming method, by name
	chain   grpc.UnaryServerInterceptor
}

// directMethod is one unary method and the implementation that serves it.
type directMethod struct {
	impl    any
	handler grpc.MethodHandler
}

// newDispatcher dispatches every unary method of services through chain.
func newDispatcher(services []Service, chain grpc.UnaryServerInterceptor) *dispatcher {
	d := &dispatcher{methods: map[string]directMethod{}, whole: map[string]bool{}, chain: chain}
	for _, s := range services {
		d.whole[s.Desc.ServiceName] = len(s.Desc.Streams) == 0
		for _, m := range s.Desc.Methods {
			d.methods["/"+s.Desc.ServiceName+"/"+m.MethodName] = directMethod{impl: s.Impl, handler: m.Handler}
		}
	}
	return d
}

// servesWhole reports whether every method of the named service is
// dispatched in process: it is one of the App's and has no streaming method.
func (d *dispatcher) servesWhole(service string) bool { return d.whole[service] }

// call runs fullMethod in ctx, whose incoming metadata and peer the caller
// has set. dec fills the request message the handler allocates. It returns
// the response and the header and trailer metadata the chain and the
// handler set (grpc.SetHeader, grpc.SetTrailer).
func (d *dispatcher) call(ctx context.Context, fullMethod string, dec func(any) error) (resp any, header, trailer metadata.MD, err error) {
	m, ok := d.methods[fullMethod]
	if !ok {
		return nil, nil, nil, status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	st := &directStream{method: fullMethod}
	resp, err = m.handler(m.impl, grpc.NewContextWithServerTransportStream(ctx, st), dec, d.chain)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.done = true
	return resp, st.header, st.trailer, err
}

// directStream is the grpc.ServerTransportStream of a dispatched call: it
// collects the header and trailer metadata the call sets, for the HTTP
// response.
type directStream struct {
	method string

	mu      sync.Mutex
	header  metadata.MD
	trailer metadata.MD
	done    bool
}

// Method implements grpc.ServerTransportStream.
func (s *directStream) Method() string { return s.method }

// SetHeader implements grpc.ServerTransportStream.
func (s *directStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return status.Error(codes.Internal, "transport: the stream is done")
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

// SendHeader implements grpc.ServerTransportStream. A unary response
// carries its headers when it is written, so sending is setting.
func (s *directStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

// SetTrailer implements grpc.ServerTransportStream.
func (s *directStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return status.Error(codes.Internal, "transport: the stream is done")
	}
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// httpPeer is the peer of a call that came over the HTTP listener: the
// client's address and no transport identity. A certificate the client
// showed the HTTP listener never becomes a gRPC peer's TLS identity, which
// only a native gRPC mTLS connection may carry.
func httpPeer(ctx context.Context, r *http.Request) context.Context {
	return peer.NewContext(ctx, &peer.Peer{Addr: remoteAddr(r.RemoteAddr)})
}

// remoteAddr is an HTTP request's RemoteAddr ("ip:port") as a net.Addr.
type remoteAddr string

func (a remoteAddr) Network() string { return "tcp" }
func (a remoteAddr) String() string  { return string(a) }
