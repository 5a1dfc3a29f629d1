package bench

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

// Transports bench startup measures: the services' plaintext default, and
// TLS with mTLS on the gRPC port as `slipway dev --tls` runs them.
const (
	transportPlaintext = "plaintext"
	transportTLS       = "tls"
)

var knownTransports = []string{transportPlaintext, transportTLS}

// clientIdentity is the certificate the bench's health check
// presents: its SPIFFE ID names no service, so it reaches Public methods
// only, which the health check is.
const clientIdentity = "bench"

// parseTransports reads the --transport list: known names, each once.
func parseTransports(list string) ([]string, error) {
	var ts []string
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			continue
		case !slices.Contains(knownTransports, t):
			return nil, cli.UsageErrorf("unknown transport %q in --transport (known: %s)", t, strings.Join(knownTransports, ", "))
		case slices.Contains(ts, t):
			return nil, cli.UsageErrorf("transport %q twice in --transport", t)
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return nil, cli.UsageErrorf("--transport names no transport (known: %s)", strings.Join(knownTransports, ", "))
	}
	return ts, nil
}

// tlsAuthority is the certificate authority of one bench run, in its temporary
// directory: a certificate per service, and the bench's client one.
type tlsAuthority struct {
	certs  *devcert.Bundle
	client *tls.Config
}

// newTLSAuthority issues the authority and the certificates under dir.
func newTLSAuthority(dir string, services []string) (*tlsAuthority, error) {
	ids := []devcert.Identity{{Name: clientIdentity, Usage: devcert.ClientOnly}}
	for _, s := range services {
		ids = append(ids, devcert.Identity{Name: s, Usage: devcert.ServerAndClient})
	}
	certs, err := devcert.Ensure(devcert.Options{Dir: dir, Identities: ids})
	if err != nil {
		return nil, fmt.Errorf("bench certificates: %w", err)
	}
	client, err := certs.ClientConfig(clientIdentity)
	if err != nil {
		return nil, err
	}
	return &tlsAuthority{certs: certs, client: client}, nil
}

// env is what a service needs to serve TLS with its own certificate. The
// key set address is https, as TLS requires, and as dead as the plaintext
// one: the services fetch it lazily.
func (b *tlsAuthority) env(svc string) []envvar.Var {
	p := b.certs.Certs[svc]
	return []envvar.Var{
		{Key: "TLS_CERT_FILE", Value: p.CertFile},
		{Key: "TLS_KEY_FILE", Value: p.KeyFile},
		{Key: "TLS_CA_FILE", Value: b.certs.CAFile},
		{Key: "TLS_TRUST_DOMAIN", Value: b.certs.TrustDomain},
		{Key: "AUTH_JWKS_URL", Value: "https://127.0.0.1:9/.well-known/jwks.json"},
	}
}

// tlsDir is where a run keeps its authority, inside its temporary
// directory.
func tlsDir(tmp string) string { return filepath.Join(tmp, "tls") }

// transportOrder is the order of the transports in run i: rotated each run,
// so that neither always starts right after the other's process exits.
func transportOrder(ts []string, i int) []string {
	n := len(ts)
	out := make([]string, 0, n)
	for j := range n {
		out = append(out, ts[(i+j)%n])
	}
	return out
}

// ratioText is "1.23x", or "-" when there is nothing to compare with.
func ratioText(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}
