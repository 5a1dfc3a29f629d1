// Package tlstest makes certificate authorities and service certificates
// for tests, with crypto/x509: ECDSA P-256 keys, leaves for both server and
// client use naming localhost, 127.0.0.1 and a SPIFFE ID.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/platform/config"
)

// CA is a certificate authority for one test.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the authority's certificate.
	PEM []byte
}

// NewCA makes a self-signed authority named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("tlstest: ca: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: ca: %v", err)
	}
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Leaf is one issued certificate and its key, PEM encoded.
type Leaf struct {
	CertPEM, KeyPEM []byte
}

// LeafOptions shape a certificate. The zero value is a service
// certificate without an identity.
type LeafOptions struct {
	// SPIFFEIDs are the URI SANs, e.g. spiffe://slipway.local/order.
	SPIFFEIDs []string
	// NotAfter defaults to a day from now.
	NotAfter time.Time
}

// Issue signs a certificate for server and client use naming DNS localhost
// and IP 127.0.0.1, plus opts.SPIFFEIDs.
func (ca *CA) Issue(t testing.TB, opts LeafOptions) Leaf {
	t.Helper()
	key := newKey(t)
	if opts.NotAfter.IsZero() {
		opts.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     opts.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, id := range opts.SPIFFEIDs {
		u, err := url.Parse(id)
		if err != nil {
			t.Fatalf("tlstest: %q: %v", id, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("tlstest: issue: %v", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: key: %v", err)
	}
	return Leaf{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}
}

// Service issues the certificate of service in trust domain
// slipway.local (spiffe://slipway.local/<service>).
func (ca *CA) Service(t testing.TB, service string) Leaf {
	t.Helper()
	return ca.Issue(t, LeafOptions{SPIFFEIDs: []string{"spiffe://" + config.DefaultTrustDomain + "/" + service}})
}

// Files writes leaf and trusted into dir as <name>.pem, <name>-key.pem and
// <name>-ca.pem, and returns the TLS settings that name them.
func Files(t testing.TB, dir, name string, leaf Leaf, trusted ...*CA) config.TLS {
	t.Helper()
	c := config.TLS{
		CertFile:    filepath.Join(dir, name+".pem"),
		KeyFile:     filepath.Join(dir, name+"-key.pem"),
		CAFile:      filepath.Join(dir, name+"-ca.pem"),
		TrustDomain: config.DefaultTrustDomain,
	}
	var bundle []byte
	for _, ca := range trusted {
		bundle = append(bundle, ca.PEM...)
	}
	for path, data := range map[string][]byte{c.CertFile: leaf.CertPEM, c.KeyFile: leaf.KeyPEM, c.CAFile: bundle} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatalf("tlstest: %v", err)
		}
	}
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatalf("tlstest: serial: %v", err)
	}
	return n
}
