package server

import (
	"net/http"

	"connectrpc.com/vanguard"
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
