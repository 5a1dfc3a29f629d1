package server

import (
	"net"
	"net/http"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slipway-dev/slipway/platform/tlsconfig"
)

// grpcCredentials are the native gRPC server's transport credentials:
// plaintext with TLS off; with TLS on, mutual TLS for every network
// connection and plaintext only for the in-process listener the REST
// gateway dials, which no other process can reach.
func grpcCredentials(src *tlsconfig.Source) credentials.TransportCredentials {
	if src == nil {
		return insecure.NewCredentials()
	}
	return &mutualTLS{TransportCredentials: credentials.NewTLS(src.GRPCServerConfig())}
}

type mutualTLS struct {
	credentials.TransportCredentials
}

func (m *mutualTLS) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(inprocConn); ok {
		return insecure.NewCredentials().ServerHandshake(conn)
	}
	return m.TransportCredentials.ServerHandshake(conn)
}

func (m *mutualTLS) Clone() credentials.TransportCredentials {
	return &mutualTLS{TransportCredentials: m.TransportCredentials.Clone()}
}

// inprocListener marks the connections of the in-process listener, so
// that grpcCredentials can tell them from network ones by type: a remote
// peer cannot make a connection of this type.
type inprocListener struct{ net.Listener }

type inprocConn struct{ net.Conn }

func (l inprocListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return inprocConn{c}, nil
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
