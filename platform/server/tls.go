package server

import (
	"net/http"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slipway-dev/slipway/platform/tlsconfig"
)

// grpcCredentials are the native gRPC server's transport credentials:
// plaintext with TLS off, mutual TLS with it on. (The HTTP listener calls
// the services in process, not over a connection to this server.)
func grpcCredentials(src *tlsconfig.Source) credentials.TransportCredentials {
	if src == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(src.GRPCServerConfig())
}

// useTLS makes the HTTP server serve TLS from src (h2 and HTTP/1.1 by
// ALPN; no h2c, which would be plaintext) when TLS is on.
func useTLS(s *http.Server, src *tlsconfig.Source) {
	if src == nil {
		return
	}
	s.TLSConfig = src.HTTPServerConfig()
	s.Protocols = new(http.Protocols)
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetHTTP2(true)
}

// serveHTTP serves the HTTP listener, over TLS when TLS is on.
func (a *App) serveHTTP() error {
	if a.http.TLSConfig != nil {
		return a.http.ServeTLS(a.httpLis, "", "")
	}
	return a.http.Serve(a.httpLis)
}
