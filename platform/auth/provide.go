package auth

import (
	"net/http"

	"github.com/google/wire"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
)

// ProviderSet provides the Verifier every service but user uses: tokens
// checked against the user service's published key set.
var ProviderSet = wire.NewSet(ProvideJWKSVerifier)

// ProvideJWKSVerifier verifies tokens from the key set at base.JWKSURL,
// issued by DefaultIssuer. With TLS on, the key set is fetched over https
// only, from a server whose certificate chains to the service's
// authorities, presenting the service's own certificate: a key set anyone
// on the path could replace would let them mint any token.
func ProvideJWKSVerifier(base config.Base) Verifier {
	certs, err := tlsconfig.Load(base.TLS)
	switch {
	case err != nil:
		// The server's start fails on the same files with the same error;
		// until then no key set is fetched without them.
		return NewJWKSVerifier(base.JWKSURL, DefaultIssuer, &http.Client{Transport: failingTransport{err}})
	case certs != nil:
		return NewJWKSVerifier(base.JWKSURL, DefaultIssuer, certs.HTTPClient())
	}
	return NewJWKSVerifier(base.JWKSURL, DefaultIssuer, nil)
}

// failingTransport fails every request with err.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }
