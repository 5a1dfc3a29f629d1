package config

import (
	"net/url"
	"regexp"
	"strings"
)

// DefaultTrustDomain is the trust domain of service identities unless
// TLS_TRUST_DOMAIN says otherwise: a service's identity is the URI SAN
// spiffe://<trust domain>/<service> of its certificate.
const DefaultTrustDomain = "slipway.local"

// TLS is a service's transport security. It is on when CertFile is set:
// then both listeners serve TLS, the gRPC listener requires a client
// certificate signed by the CA (mTLS), and every call to a peer presents
// the service's own certificate. Off, everything is plaintext, as suits
// `make run` on loopback.
type TLS struct {
	// CertFile is the PEM certificate chain (leaf first) the service serves
	// and presents to its peers. Setting it turns TLS on.
	CertFile string `yaml:"tls_cert_file" env:"TLS_CERT_FILE" help:"PEM certificate chain (leaf first) served and presented to peers; setting it turns TLS on"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `yaml:"tls_key_file" env:"TLS_KEY_FILE" help:"PEM private key of TLS_CERT_FILE"`
	// CAFile is the PEM bundle of the authorities that sign peers' and
	// clients' certificates, and the JWKS server's.
	CAFile string `yaml:"tls_ca_file" env:"TLS_CA_FILE" help:"PEM bundle of the CAs that sign peers', clients' and the JWKS server's certificates"`
	// TrustDomain is the host of the SPIFFE IDs that name services.
	TrustDomain string `yaml:"tls_trust_domain" env:"TLS_TRUST_DOMAIN" help:"host of the service identities, spiffe://<domain>/<service>"`
}

// Enabled reports whether TLS is on.
func (t TLS) Enabled() bool { return t.CertFile != "" }

func (t *TLS) setDefaults() {
	t.CertFile, t.KeyFile, t.CAFile = "", "", ""
	t.TrustDomain = DefaultTrustDomain
}

// trustDomainPattern is a DNS-style name: what a SPIFFE ID's host may be.
var trustDomainPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// validate checks the TLS keys, and that the JWKS is fetched over https
// when TLS is on: a key set fetched in plaintext could be replaced by
// anyone on the path, and with it every token.
func (t *TLS) validate(jwksURL string, bad func(key, value, reason string)) {
	if !trustDomainPattern.MatchString(t.TrustDomain) {
		bad("TLS_TRUST_DOMAIN", t.TrustDomain, "want a lower-case DNS name such as slipway.local")
	}
	if !t.Enabled() {
		for _, f := range []struct{ key, value string }{{"TLS_KEY_FILE", t.KeyFile}, {"TLS_CA_FILE", t.CAFile}} {
			if f.value != "" {
				bad(f.key, f.value, "set without TLS_CERT_FILE, so TLS would stay off; set TLS_CERT_FILE too, or unset it")
			}
		}
		return
	}
	for _, f := range []struct{ key, value string }{{"TLS_KEY_FILE", t.KeyFile}, {"TLS_CA_FILE", t.CAFile}} {
		if f.value == "" {
			bad(f.key, "", "must be set when TLS_CERT_FILE is set")
		}
	}
	if u, err := url.Parse(jwksURL); jwksURL != "" && err == nil && !strings.EqualFold(u.Scheme, "https") {
		bad("AUTH_JWKS_URL", jwksURL, "want an https:// URL when TLS is on (TLS_CERT_FILE is set)")
	}
}
