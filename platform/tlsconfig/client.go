package tlsconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc/credentials"
)

// ClientConfig is the configuration of one connection to a server at
// host: TLS 1.2 or later, presenting the service's certificate, and
// trusting only the authorities. With service set, the server must prove
// that it is that service (its certificate's SPIFFE ID), whatever address
// it was reached at (127.0.0.1, a pod IP, an etcd-resolved one); with
// service empty, the server's certificate must name host (a DNS name or an
// IP address), as a browser would check it.
func (s *Source) ClientConfig(host, service string) *tls.Config {
	snap := s.current()
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Always presented, even when the server asks for another
		// authority's: a refusal then says why, instead of "certificate required".
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return snap.cert, nil },
		RootCAs:              snap.pool,
		ServerName:           host,
	}
	if service == "" {
		return cfg
	}
	want := SPIFFEID(s.files.TrustDomain, service)
	// The chain and the identity are checked below instead of by host
	// name: InsecureSkipVerify only turns off the host name check that
	// VerifyConnection replaces.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tlsconfig: the server sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		intermediates := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			intermediates.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{
			Roots: snap.pool, Intermediates: intermediates,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			return fmt.Errorf("tlsconfig: server certificate for %s: %w", want, err)
		}
		if got, ok := ServiceID(leaf, s.files.TrustDomain); !ok || got != service {
			return fmt.Errorf("tlsconfig: server certificate is not %s (URI SANs %v)", want, leaf.URIs)
		}
		return nil
	}
	return cfg
}

// ClientCredentials are the gRPC transport credentials of calls to
// service (see ClientConfig; "" checks the target's host name instead).
func (s *Source) ClientCredentials(service string) credentials.TransportCredentials {
	return &clientCredentials{src: s, service: service}
}

// clientCredentials builds a fresh configuration for every handshake, so
// that a rotated certificate or authority takes effect on the next
// connection.
type clientCredentials struct {
	src        *Source
	service    string
	serverName string // OverrideServerName's, if any
}

func (c *clientCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	host := c.serverName
	if host == "" {
		host = hostOf(authority)
	}
	return credentials.NewTLS(c.src.ClientConfig(host, c.service)).ClientHandshake(ctx, authority, raw)
}

func (c *clientCredentials) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("tlsconfig: client credentials cannot serve")
}

func (c *clientCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c *clientCredentials) Clone() credentials.TransportCredentials {
	clone := *c
	return &clone
}

//nolint:staticcheck // part of the interface
func (c *clientCredentials) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}

// HTTPClient is an HTTP client over TLS that trusts only the authorities,
// checks the server's host name and presents the service's certificate; the
// JWKS is fetched with it. It refuses plaintext http:// URLs.
//
// It never uses a proxy (HTTPS_PROXY and the like are ignored): net/http
// would tunnel through the proxy and then do its own TLS handshake, with
// the system roots and no client certificate, skipping DialTLSContext.
func (s *Source) HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.TLSClientConfig = nil
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := s.ClientConfig(hostOf(addr), "")
		cfg.NextProtos = []string{"http/1.1"}
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return conn, nil
	}
	return &http.Client{Transport: httpsOnly{t}}
}

// httpsOnly refuses requests that would leave in plaintext.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("tlsconfig: %s: refusing a plaintext request with TLS on; use https", r.URL.Redacted())
	}
	return h.next.RoundTrip(r)
}

// hostOf is the host of host:port, or s when it has no port.
func hostOf(s string) string {
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}
