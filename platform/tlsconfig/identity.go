package tlsconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"regexp"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// servicePattern is what a service name may be: one path segment.
var servicePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// SPIFFEID is the identity URI of service in trustDomain,
// spiffe://<trust domain>/<service>.
func SPIFFEID(trustDomain, service string) string {
	return "spiffe://" + trustDomain + "/" + service
}

// ServiceID returns the service a certificate names: the last segment of
// its one SPIFFE URI SAN in trustDomain. A certificate with no such SAN,
// with several SPIFFE IDs (which the SPIFFE spec forbids), or with one in
// another trust domain names none. It says nothing about whether the
// certificate is trusted: use it on verified chains only.
func ServiceID(cert *x509.Certificate, trustDomain string) (string, bool) {
	if cert == nil {
		return "", false
	}
	name, found := "", 0
	for _, u := range cert.URIs {
		if !strings.EqualFold(u.Scheme, "spiffe") {
			continue
		}
		found++
		if u.Host == trustDomain && u.User == nil && u.RawQuery == "" && u.Fragment == "" {
			name = strings.TrimPrefix(u.Path, "/")
		}
	}
	if found != 1 || !servicePattern.MatchString(name) {
		return "", false
	}
	return name, true
}

// VerifiedService returns the service named by the client certificate of a
// TLS connection, if the handshake verified it against the authorities.
func VerifiedService(cs tls.ConnectionState, trustDomain string) (string, bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	return ServiceID(cs.VerifiedChains[0][0], trustDomain)
}

// PeerService returns the service whose verified certificate the gRPC peer
// of ctx presented; none over plaintext or without a client certificate.
func PeerService(ctx context.Context, trustDomain string) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", false
	}
	return VerifiedService(info.State, trustDomain)
}

// RequestService returns the service whose verified certificate the
// client of r presented on the HTTP listener; none otherwise.
func RequestService(r *http.Request, trustDomain string) (string, bool) {
	if r.TLS == nil {
		return "", false
	}
	return VerifiedService(*r.TLS, trustDomain)
}
