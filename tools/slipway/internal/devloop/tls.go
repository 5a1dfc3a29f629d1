package devloop

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// ensureTLS makes sure the authority and every certificate are in place
// and current, says what it issued, and gives each service of plan the
// CLI's client configuration for the health polling.
func ensureTLS(root string, plan []fleet.Service, out *fleet.Console) (*devcert.Bundle, error) {
	b, err := devcert.Ensure(devcert.Options{Dir: workspace.TLSDir(root), Identities: workspace.TLSIdentities()})
	if err != nil {
		return nil, err
	}
	for _, line := range b.Issued {
		out.Infof("tls: issued %s", line)
	}
	client, err := b.ClientConfig(workspace.CLIIdentity)
	if err != nil {
		return nil, err
	}
	for i := range plan {
		plan[i].ClientTLS = client
	}
	return b, nil
}

// tlsSummary tells where the authority is, how to trust it, and how to
// call the services with it.
func tlsSummary(root string, b *devcert.Bundle, plan []fleet.Service) string {
	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	ca := rel(b.CAFile)
	cert, key := workspace.TLSFiles(root, workspace.CLIIdentity)
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
