package server

import (
	"net/http"
	"strings"

	"connectrpc.com/vanguard"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
)

// newTranscoder is the gRPC-Web and Connect transcoder of the HTTP
// listener. The services the dispatcher serves whole (no streaming method)
// are transcoded to the gRPC protocol and handed to target, which calls
// their handlers in process; the others (health, reflection, any service
// with a stream) go to srv's own HTTP handler, as gRPC needs a transport
// for a stream.
func newTranscoder(srv *grpc.Server, direct *dispatcher, target http.Handler, maxBytes int) (*vanguard.Transcoder, error) {
	var services []*vanguard.Service
	for name := range srv.GetServiceInfo() {
		if direct.servesWhole(name) {
			services = append(services, vanguard.NewService(name, target, vanguard.WithNoTargetCompression()))
			continue
		}
		services = append(services, vanguard.NewService(name, srv))
	}
	opts := append([]vanguard.TranscoderOption{vanguard.WithDefaultServiceOptions(
		vanguard.WithTargetCodecs(vanguard.CodecProto),
		vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
	)}, transcoderOptions(maxBytes)...)
	return vanguard.NewTranscoder(services, opts...)
}

// traced wraps the in-process gRPC target in a server span named for the
// method, "pkg.Service/Method", as the gRPC server's own spans are.
func (a *App) traced(target http.Handler, prop propagation.TextMapPropagator) http.Handler {
	return otelhttp.NewHandler(target, "rpc", otelhttp.WithTracerProvider(a.tp), otelhttp.WithPropagators(prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return strings.TrimPrefix(r.URL.Path, "/") }))
}
