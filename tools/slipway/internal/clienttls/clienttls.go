// Package clienttls holds the client TLS flags (--tls, --cacert, --cert,
// --key) that probe, ready and load share, and the configuration they build.
package clienttls

import (
	"crypto/tls"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/devcert"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Flags are the TLS flags of the verbs that call services (probe,
// ready, load): --tls uses the dev CA and the CLI's certificate that
// `slipway dev --tls` keeps under .slipway/tls; --cacert, --cert and --key
// name other files (grpcurl's names), so that the probe inside a pod can use
// the pod's own certificate.
type Flags struct {
	dev      bool
	caFile   string
	certFile string
	keyFile  string
}

// Register adds the flags to fs. The file flags default to the process's
// TLS_CA_FILE, TLS_CERT_FILE and TLS_KEY_FILE, the service's own settings
// when the CLI runs beside it.
func (f *Flags) Register(fs *flag.FlagSet, getenv func(string) string) {
	fs.BoolVar(&f.dev, "tls", false, "call over TLS with the dev CA and the CLI's client certificate of `slipway dev --tls` (.slipway/tls)")
	fs.StringVar(&f.caFile, "cacert", getenv("TLS_CA_FILE"), "call over TLS, trusting only the CA certificates in this PEM `file` (default $TLS_CA_FILE)")
	fs.StringVar(&f.certFile, "cert", getenv("TLS_CERT_FILE"), "client certificate PEM `file` for mTLS (default $TLS_CERT_FILE)")
	fs.StringVar(&f.keyFile, "key", getenv("TLS_KEY_FILE"), "client key PEM `file` for mTLS (default $TLS_KEY_FILE)")
}

// Config is the client TLS configuration the flags ask for, or nil for
// plaintext. root finds the workspace, for --tls.
func (f Flags) Config(root func() (string, error)) (*tls.Config, error) {
	if f.dev {
		if f.caFile != "" || f.certFile != "" || f.keyFile != "" {
			return nil, cli.UsageErrorf("--tls uses the dev CA: give it, or --cacert/--cert/--key (or $TLS_CA_FILE...), not both")
		}
		r, err := root()
		if err != nil {
			return nil, err
		}
		return DevConfig(r)
	}
	if f.caFile == "" {
		if f.certFile != "" || f.keyFile != "" {
			return nil, cli.UsageErrorf("--cert and --key need --cacert (or $TLS_CA_FILE): the server's certificate is verified against it")
		}
		return nil, nil
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, cli.UsageErrorf("--cert and --key go together")
	}
	conf, err := devcert.ClientConfigFromFiles(f.caFile, f.certFile, f.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--cacert %s: %w", f.caFile, err)
	}
	return conf, nil
}

// DevConfig is the CLI's client configuration under dev --tls, for
// verbs that talk to a running `slipway dev --tls` (probe, ready, load):
// the authority and the CLI's certificate of the workspace at root.
func DevConfig(root string) (*tls.Config, error) {
	cert, key := workspace.TLSFiles(root, workspace.CLIIdentity)
	conf, err := devcert.ClientConfigFromFiles(filepath.Join(workspace.TLSDir(root), devcert.CAFile), cert, key)
	if err != nil {
		return nil, fmt.Errorf("--tls: %w (start `slipway dev --tls` once: it creates them)", err)
	}
	return conf, nil
}
