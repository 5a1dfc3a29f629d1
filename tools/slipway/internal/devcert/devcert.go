// Package devcert keeps the development certificate authority of `slipway
// dev --tls` and the certificates it issues, under one directory
// (.slipway/tls): ECDSA P-256 keys, files written only by the owner (keys
// 0600), the authority kept across runs so that a browser or an OS that
// trusts it once keeps trusting it.
//
// Each certificate names the loopback addresses (DNS localhost, IP
// 127.0.0.1 and ::1) and one SPIFFE-style identity,
// spiffe://<trust domain>/<name>. The authority is name-constrained to
// exactly those, so trusting it cannot let a leaked key vouch for any real
// host.
package devcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DefaultTrustDomain is the trust domain of the identities, as the
// platform's TLS_TRUST_DOMAIN defaults to it.
const DefaultTrustDomain = "slipway.local"

// Lifetimes, and how long before the end a certificate is issued again.
// A leaf lives 90 days and is renewed in its last 30, so a dev session
// started today runs for a month at least; the authority lives two years.
const (
	CALifetime   = 2 * 365 * 24 * time.Hour
	CARenewal    = 30 * 24 * time.Hour
	LeafLifetime = 90 * 24 * time.Hour
	LeafRenewal  = 30 * 24 * time.Hour
	// backdate covers clocks that differ a little between processes.
	backdate = 5 * time.Minute
)

// File names in the directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// Usage says what a certificate may be used for.
type Usage int

// Usages: a service both serves and calls its peers; a client only calls.
const (
	ServerAndClient Usage = iota
	ClientOnly
)

// Identity is one certificate to keep: Name is the last path segment of
// its SPIFFE ID and the stem of its file names.
type Identity struct {
	Name  string
	Usage Usage
}

// Options configure Ensure.
type Options struct {
	Dir         string     // where the files live; created 0700 if missing
	TrustDomain string     // "" is DefaultTrustDomain
	Identities  []Identity // certificates to keep besides the authority
	Now         func() time.Time
}

// Paths are the files of one certificate. CertFile holds the certificate
// followed by the authority's (a full chain, so a client that trusts the
// authority's key by hash finds it in the handshake).
type Paths struct {
	CertFile string
	KeyFile  string
}

// Bundle is the outcome of Ensure.
type Bundle struct {
	Dir         string
	TrustDomain string
	CAFile      string
	CA          *x509.Certificate
	// CASPKIHash is base64(SHA-256(SubjectPublicKeyInfo)) of the authority,
	// the form Chromium's --ignore-certificate-errors-spki-list takes.
	CASPKIHash string
	Certs      map[string]Paths
	// Issued says what Ensure wrote this time and why, one line each
	// ("order: expires 2027-01-02"); empty when every file was reused.
	Issued []string
}

// SPIFFEID is the identity URI of name in the bundle's trust domain.
func (b *Bundle) SPIFFEID(name string) string { return spiffeID(b.TrustDomain, name).String() }

// Ensure loads the authority and every identity's certificate from
// opts.Dir and issues again whatever is missing, unreadable, expiring
// within its renewal window, for other names, or signed by another
// authority. A new authority means every certificate is issued again.
func Ensure(opts Options) (*Bundle, error) {
	if opts.TrustDomain == "" {
		opts.TrustDomain = DefaultTrustDomain
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Dir == "" {
		return nil, errors.New("devcert: no directory")
	}
	for _, id := range opts.Identities {
		if !validName(id.Name) {
			return nil, fmt.Errorf("devcert: identity %q: want lower-case letters, digits and '-'", id.Name)
		}
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	now := opts.Now()
	b := &Bundle{
		Dir: opts.Dir, TrustDomain: opts.TrustDomain,
		CAFile: filepath.Join(opts.Dir, CAFile), Certs: map[string]Paths{},
	}
	ca, caKey, reason := loadCA(opts.Dir, opts.TrustDomain, now)
	if reason != "" {
		var err error
		if ca, caKey, err = issueCA(opts.Dir, opts.TrustDomain, now); err != nil {
			return nil, err
		}
		b.Issued = append(b.Issued, "authority: "+reason)
	}
	b.CA = ca
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	b.CASPKIHash = base64.StdEncoding.EncodeToString(sum[:])

	for _, id := range opts.Identities {
		p := Paths{
			CertFile: filepath.Join(opts.Dir, id.Name+".pem"),
			KeyFile:  filepath.Join(opts.Dir, id.Name+"-key.pem"),
		}
		b.Certs[id.Name] = p
		want := template(id, opts.TrustDomain, now)
		reason := checkLeaf(p, ca, want, now)
		if reason == "" {
			continue
		}
		if err := issueLeaf(p, want, ca, caKey); err != nil {
			return nil, err
		}
		b.Issued = append(b.Issued, id.Name+": "+reason)
	}
	return b, nil
}

// ClientConfig is a TLS client configuration that trusts only the
// authority and presents name's certificate.
func (b *Bundle) ClientConfig(name string) (*tls.Config, error) {
	p, ok := b.Certs[name]
	if !ok {
		return nil, fmt.Errorf("devcert: no certificate for %q", name)
	}
	return ClientConfigFromFiles(b.CAFile, p.CertFile, p.KeyFile)
}

// ServerConfig serves name's certificate; clients may present one, which
// is then verified against the authority.
func (b *Bundle) ServerConfig(name string) (*tls.Config, error) {
	p, ok := b.Certs[name]
	if !ok {
		return nil, fmt.Errorf("devcert: no certificate for %q", name)
	}
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("devcert: %s: %w", name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}, nil
}

// ClientConfigFromFiles trusts only the authority in caFile and, when
// certFile is set, presents that certificate and keyFile's key.
func ClientConfigFromFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile) //nolint:gosec // G304: the authority the operator names, or the dev one
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

func validName(s string) bool {
	if s == "" || s == "ca" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

func spiffeID(trustDomain, name string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/" + name}
}

// loopbackNets are the addresses the authority may vouch for.
var loopbackNets = []*net.IPNet{
	{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
	{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
}

// loadCA returns the kept authority, or why a new one is needed.
func loadCA(dir, trustDomain string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile)) //nolint:gosec // G304: the CLI's own TLS directory
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, "missing"
	}
	if err != nil {
		return nil, nil, fmt.Sprintf("unreadable (%v)", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile)) //nolint:gosec // G304: as above
	if err != nil {
		return nil, nil, fmt.Sprintf("key unreadable (%v)", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Sprintf("certificate and key do not match (%v)", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, "key is not ECDSA"
	}
	ca := pair.Leaf
	switch {
	case !ca.IsCA:
		return nil, nil, "not an authority"
	case now.Before(ca.NotBefore):
		return nil, nil, "not valid yet"
	case !now.Add(CARenewal).Before(ca.NotAfter):
		return nil, nil, "expires " + ca.NotAfter.UTC().Format(time.DateOnly)
	case !slices.Equal(ca.PermittedURIDomains, []string{trustDomain}):
		return nil, nil, "for another trust domain"
	}
	return ca, key, ""
}

func issueCA(dir, trustDomain string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: authority key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"Slipway development"},
			CommonName:   fmt.Sprintf("Slipway dev CA %s %s", host, now.UTC().Format(time.DateOnly)),
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// It vouches for loopback and the trust domain's identities only.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges:           loopbackNets,
		PermittedURIDomains:         []string{trustDomain},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: authority: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: authority: %w", err)
	}
	// The key first: a certificate on disk always has its key there.
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writeFile(filepath.Join(dir, CAFile), pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

// template is the certificate id should have, but for serial and validity.
func template(id Identity, trustDomain string, now time.Time) *x509.Certificate {
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if id.Usage == ClientOnly {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"Slipway development"}, CommonName: id.Name},
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(LeafLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: eku,
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback},
		URIs:        []*url.URL{spiffeID(trustDomain, id.Name)},
	}
}

// checkLeaf says why the certificate at p must be issued again, or "".
func checkLeaf(p Paths, ca *x509.Certificate, want *x509.Certificate, now time.Time) string {
	certPEM, err := os.ReadFile(p.CertFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing"
	}
	if err != nil {
		return fmt.Sprintf("unreadable (%v)", err)
	}
	keyPEM, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return fmt.Sprintf("key unreadable (%v)", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Sprintf("certificate and key do not match (%v)", err)
	}
	leaf := pair.Leaf
	if len(pair.Certificate) != 2 || !bytes.Equal(pair.Certificate[1], ca.Raw) || leaf.CheckSignatureFrom(ca) != nil {
		return "signed by another authority"
	}
	switch {
	case now.Before(leaf.NotBefore):
		return "not valid yet"
	case !now.Add(LeafRenewal).Before(leaf.NotAfter):
		return "expires " + leaf.NotAfter.UTC().Format(time.DateOnly)
	case !sameNames(leaf, want):
		return "names changed"
	}
	return ""
}

func sameNames(a, b *x509.Certificate) bool {
	uris := func(c *x509.Certificate) []string {
		var s []string
		for _, u := range c.URIs {
			s = append(s, u.String())
		}
		return s
	}
	return slices.Equal(a.DNSNames, b.DNSNames) &&
		slices.EqualFunc(a.IPAddresses, b.IPAddresses, net.IP.Equal) &&
		slices.Equal(uris(a), uris(b)) &&
		slices.Equal(a.ExtKeyUsage, b.ExtKeyUsage)
}

func issueLeaf(p Paths, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("devcert: key for %s: %w", tmpl.Subject.CommonName, err)
	}
	if tmpl.SerialNumber, err = serialNumber(); err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("devcert: certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	if err := writeKey(p.KeyFile, key); err != nil {
		return err
	}
	chain := append(pemBlock("CERTIFICATE", der), pemBlock("CERTIFICATE", ca.Raw)...)
	return writeFile(p.CertFile, chain, 0o644)
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("devcert: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("devcert: %s: %w", path, err)
	}
	return writeFile(path, pemBlock("PRIVATE KEY", der), 0o600)
}

// writeFile replaces path atomically: another process reading it sees the
// old content or the new, never half of it.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("devcert: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("devcert: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("devcert: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("devcert: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("devcert: %w", err)
	}
	return nil
}
