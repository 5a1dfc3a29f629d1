package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// TestTLSIdentifiesServiceAndUser dials an mTLS peer as the order service
// with no token: the peer knows the caller by its certificate, and the
// user it calls for by the header the client sets from the claims.
func TestTLSIdentifiesServiceAndUser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "slipway")
	load := func(name string, leaf tlstest.Leaf) *tlsconfig.Source {
		s, err := tlsconfig.Load(tlstest.Files(t, dir, name, leaf, ca))
		require.NoError(t, err)
		return s
	}
	order := load("order", ca.Service(t, "order"))
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	inventoryFiles := tlstest.Files(t, dir, "inventory", ca.Service(t, "inventory"), ca)
	authenticate := auth.Authenticate(auth.NewKeyVerifier(pub, auth.DefaultIssuer),
		auth.Policy{methodAgent: auth.Internal.For("order")}, auth.WithTLS(inventoryFiles))
	inventory, err := tlsconfig.Load(inventoryFiles)
	require.NoError(t, err)
	p := &peer{}
	addr := startPeer(t, p, grpc.Creds(credentials.NewTLS(inventory.GRPCServerConfig())),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			ctx, err := authenticate(ctx, methodAgent)
			if err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}))

	hc := dial(t, addr, client.WithTLS(order, "inventory"))
	forged := metadata.AppendToOutgoingContext(auth.WithClaims(t.Context(), auth.Claims{Subject: "alice", Role: auth.RoleCustomer}),
		auth.OnBehalfOfHeader, "mallory")
	_, err = hc.Check(forged, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	got := p.last(t)
	require.True(t, got.hasClaims)
	assert.Equal(t, auth.Claims{Subject: "order", Role: auth.RoleService, OnBehalfOf: "alice"}, got.claims,
		"the certificate names the service; the claims, not a forged header, name the user")
	assert.Empty(t, got.md.Get("authorization"), "no token: the certificate is the identity")

	t.Run("a server that is not the service dialled is refused", func(t *testing.T) {
		before := p.checks.Load()
		_, err := dial(t, addr, client.WithTLS(order, "user")).Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
		assert.Contains(t, status.Convert(err).Message(), "not spiffe://slipway.local/user")
		assert.Equal(t, before, p.checks.Load())
	})
	t.Run("TLS off stays plaintext, which the mTLS peer refuses", func(t *testing.T) {
		_, err := dial(t, addr, client.WithTLS(nil, "inventory")).Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
	})
}
