package auth

import (
	"github.com/google/wire"

	"github.com/slipway-dev/slipway/platform/config"
)

// ProviderSet provides the Verifier every service but user uses: tokens
// checked against the user service's published key set.
var ProviderSet = wire.NewSet(ProvideJWKSVerifier)

// ProvideJWKSVerifier verifies tokens from the key set at base.JWKSURL,
// issued by DefaultIssuer.
func ProvideJWKSVerifier(base config.Base) Verifier {
	return NewJWKSVerifier(base.JWKSURL, DefaultIssuer, nil)
}
