package tlsconfig_test

import (
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
)

// Example serves gRPC over mutual TLS and dials a peer as the order
// service, from the files TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE name
// (not run: it needs the files).
func Example() {
	certs, err := tlsconfig.Load(config.TLS{
		CertFile: "/etc/slipway/tls/tls.crt", KeyFile: "/etc/slipway/tls/tls.key",
		CAFile: "/etc/slipway/tls/ca.crt", TrustDomain: "slipway.local",
	})
	if err != nil {
		log.Fatal(err)
	}
	// The gRPC listener requires a client certificate from the CA.
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(certs.GRPCServerConfig())))
	defer srv.Stop()
	// The peer must prove it is spiffe://slipway.local/inventory, whatever
	// address it is reached at.
	conn, err := grpc.NewClient("127.0.0.1:50053", grpc.WithTransportCredentials(certs.ClientCredentials("inventory")))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}
