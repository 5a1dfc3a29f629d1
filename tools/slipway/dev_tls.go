package main

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Identities of dev --tls besides the services: the console (its server
// certificate, and its client one for calls to the services) and the CLI
// itself (health polling, probe, ready, load).
const (
	consoleIdentity = "console"
	cliIdentity     = "cli"
)

// devTLSDir is where dev keeps its certificate authority and certificates.
func devTLSDir(root string) string { return filepath.Join(root, ".slipway", "tls") }

// devTLSIdentities are the certificates dev --tls keeps: every known
// service's (so a later --services run finds them too), the console's and
// the CLI's.
func devTLSIdentities() []devcert.Identity {
	ids := make([]devcert.Identity, 0, len(workspace.Known)+2)
	for _, d := range workspace.Known {
		ids = append(ids, devcert.Identity{Name: d.Name, Usage: devcert.ServerAndClient})
	}
	return append(ids,
		devcert.Identity{Name: consoleIdentity, Usage: devcert.ServerAndClient},
		devcert.Identity{Name: cliIdentity, Usage: devcert.ClientOnly})
}

// devTLSFiles are the paths of name's certificate and key, as devcert
// writes them.
func devTLSFiles(root, name string) (cert, key string) {
	dir := devTLSDir(root)
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
}

// tlsEnv is what dev --tls sets for svc whatever the parent says: its own
// certificate and key, the authority, and the authority for the OTLP
// exporter, which sends traces to the console over https.
func tlsEnv(root, svc string) []envvar.Var {
	cert, key := devTLSFiles(root, svc)
	ca := filepath.Join(devTLSDir(root), devcert.CAFile)
	return []envvar.Var{
		{Key: "TLS_CERT_FILE", Value: cert},
		{Key: "TLS_KEY_FILE", Value: key},
		{Key: "TLS_CA_FILE", Value: ca},
		{Key: "TLS_TRUST_DOMAIN", Value: devcert.DefaultTrustDomain},
		{Key: "OTEL_EXPORTER_OTLP_CERTIFICATE", Value: ca},
	}
}

// httpScheme is the scheme of the services' and the console's HTTP ports.
func (o devOptions) httpScheme() string {
	if o.TLS {
		return "https"
	}
	return "http"
}

// ensureDevTLS makes sure the authority and every certificate are in place
// and current, says what it issued, and gives each service of plan the
// CLI's client configuration for the health polling.
func ensureDevTLS(root string, plan []devService, out *console) (*devcert.Bundle, error) {
	b, err := devcert.Ensure(devcert.Options{Dir: devTLSDir(root), Identities: devTLSIdentities()})
	if err != nil {
		return nil, err
	}
	for _, line := range b.Issued {
		out.Infof("tls: issued %s", line)
	}
	client, err := b.ClientConfig(cliIdentity)
	if err != nil {
		return nil, err
	}
	for i := range plan {
		plan[i].ClientTLS = client
	}
	return b, nil
}

// devClientTLS is the CLI's client configuration under dev --tls, for
// verbs that talk to a running `slipway dev --tls` (probe, ready, load):
// the authority and the CLI's certificate of the workspace at root.
func devClientTLS(root string) (*tls.Config, error) {
	cert, key := devTLSFiles(root, cliIdentity)
	conf, err := devcert.ClientConfigFromFiles(filepath.Join(devTLSDir(root), devcert.CAFile), cert, key)
	if err != nil {
		return nil, fmt.Errorf("--tls: %w (start `slipway dev --tls` once: it creates them)", err)
	}
	return conf, nil
}

// tlsSummary tells where the authority is, how to trust it, and how to
// call the services with it.
func tlsSummary(root string, b *devcert.Bundle, plan []devService) string {
	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	ca := rel(b.CAFile)
	cert, key := devTLSFiles(root, cliIdentity)
	var sb strings.Builder
	fmt.Fprintf(&sb, "TLS: HTTP ports serve https; gRPC ports require a client certificate from the dev CA (mTLS)\n")
	fmt.Fprintf(&sb, "  dev CA: %s (in %s, kept across runs; it can vouch only for localhost, 127.0.0.1, ::1 and spiffe://%s/*)\n", ca, root, b.TrustDomain)
	fmt.Fprintf(&sb, "  trust it: Debian/Ubuntu: sudo cp %s /usr/local/share/ca-certificates/slipway-dev.crt && sudo update-ca-certificates\n", ca)
	fmt.Fprintf(&sb, "            Chrome/Firefox on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n slipway-dev -i %s\n", ca)
	fmt.Fprintf(&sb, "            macOS: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain %s\n", ca)
	if len(plan) > 0 {
		s := plan[0]
		fmt.Fprintf(&sb, "  curl --cacert %s https://%s/readyz\n", ca, s.HTTPDial)
		// tools/grpcurl runs from tools/gen: it needs absolute paths.
		fmt.Fprintf(&sb, "  tools/grpcurl -cacert %s -cert %s -key %s %s list\n", b.CAFile, cert, key, s.GRPCDial)
	}
	return sb.String()
}
