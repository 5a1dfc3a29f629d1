package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

const bob = "0192f0c6-0000-7000-8000-000000000002"

// protocols are the values the HTTP listener tags a call with; "" is native gRPC.
var protocols = []string{"", "rest", "grpc-web", "connect", "grpc-http"}

func protocolName(p string) string {
	if p == "" {
		return "grpc"
	}
	return p
}

// call is the incoming context of one RPC: its metadata, and the verified
// client certificate of the connection, if any.
func call(protocol, token string, cert *x509.Certificate, onBehalfOf ...string) context.Context {
	md := metadata.MD{}
	if token != "" {
		md.Append("authorization", "Bearer "+token)
	}
	if protocol != "" {
		md.Append(protocolHeader, protocol)
	}
	for _, v := range onBehalfOf {
		md.Append(OnBehalfOfHeader, v)
	}
	ctx := metadata.NewIncomingContext(context.Background(), md)
	if cert != nil {
		state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
		ctx = peer.NewContext(ctx, &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
	}
	return ctx
}

func certOf(t *testing.T, leaf tlstest.Leaf) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(leaf.CertPEM)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

type outcome struct {
	code    codes.Code
	subject string // "" when no claims
	obo     string
}

func run(t *testing.T, hook func(context.Context, string) (context.Context, error), ctx context.Context, method string) outcome {
	t.Helper()
	ctx, err := hook(ctx, method)
	c, ok := FromContext(ctx)
	if !ok || err != nil {
		return outcome{code: status.Code(err)}
	}
	return outcome{code: codes.OK, subject: c.Subject, obo: c.OnBehalfOf}
}

// TestOnBehalfOfPlaintext attacks the header with TLS off (make run): only
// a password service account that the method names, over native gRPC, may
// act for a user.
func TestOnBehalfOfPlaintext(t *testing.T) {
	key := newKey(t)
	s := NewSigner(key, "slipway", time.Hour)
	hook := Authenticate(NewKeyVerifier(key.Public().(ed25519.PublicKey), "slipway"), testPolicy)
	order := sign(t, s, Claims{Subject: "order-account-id", Email: "order@" + ServiceAccountDomain, Role: RoleService})
	billing := sign(t, s, Claims{Subject: "billing-account-id", Email: "billing@" + ServiceAccountDomain, Role: RoleService})
	customer := sign(t, s, alice)
	admin := sign(t, s, Claims{Subject: "root", Role: RoleAdmin})

	for _, protocol := range protocols {
		native := protocol == ""
		t.Run(protocolName(protocol), func(t *testing.T) {
			honoured := func(user string) string {
				if native {
					return user
				}
				return ""
			}
			tests := []struct {
				name   string
				ctx    context.Context
				method string
				want   outcome
			}{
				{"named service acts for a user", call(protocol, order, nil, bob), methodInternal, outcome{codes.OK, "order-account-id", honoured(bob)}},
				{"first of several values", call(protocol, order, nil, " ", bob, alice.Subject), methodInternal, outcome{codes.OK, "order-account-id", honoured(bob)}},
				{"named service for itself", call(protocol, order, nil), methodInternal, outcome{codes.OK, "order-account-id", ""}},
				{"named service on an Authenticated method naming it", call(protocol, order, nil, bob), methodAgent, outcome{codes.OK, "order-account-id", honoured(bob)}},
				{"service on a public method that does not name it", call(protocol, order, nil, bob), methodPublic, outcome{codes.OK, "order-account-id", ""}},
				{"service not named is refused", call(protocol, billing, nil, bob), methodInternal, outcome{code: codes.PermissionDenied}},
				{"service not named gets no agency on a public method", call(protocol, billing, nil, bob), methodPublic, outcome{codes.OK, "billing-account-id", ""}},
				{"service not named cannot read people's data", call(protocol, order, nil, bob), methodAuthed, outcome{code: codes.PermissionDenied}},
				{"customer cannot act for another user", call(protocol, customer, nil, bob), methodAuthed, outcome{codes.OK, alice.Subject, ""}},
				{"customer on a method naming a service", call(protocol, customer, nil, bob), methodAgent, outcome{codes.OK, alice.Subject, ""}},
				{"admin is not a service", call(protocol, admin, nil, bob), methodInternal, outcome{codes.OK, "root", ""}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					assert.Equal(t, tt.want, run(t, hook, tt.ctx, tt.method))
				})
			}
		})
	}
}

// TestOnBehalfOfMutualTLS attacks the header and the identity under mTLS:
// only the verified certificate of a named service, over native gRPC, acts
// for a user; password service tokens are refused.
func TestOnBehalfOfMutualTLS(t *testing.T) {
	key := newKey(t)
	s := NewSigner(key, "slipway", time.Hour)
	tlsOn := config.TLS{CertFile: "x", KeyFile: "x", CAFile: "x", TrustDomain: "slipway.local"}
	hook := Authenticate(NewKeyVerifier(key.Public().(ed25519.PublicKey), "slipway"), testPolicy, WithTLS(tlsOn))
	ca := tlstest.NewCA(t, "slipway")
	orderCert := certOf(t, ca.Service(t, "order"))
	billingCert := certOf(t, ca.Service(t, "billing"))
	anonymousCert := certOf(t, ca.Issue(t, tlstest.LeafOptions{}))
	password := sign(t, s, Claims{Subject: "order-account-id", Email: "order@" + ServiceAccountDomain, Role: RoleService})
	customer := sign(t, s, alice)

	for _, protocol := range protocols {
		native := protocol == ""
		t.Run(protocolName(protocol), func(t *testing.T) {
			// Off the native listener a certificate names nobody.
			certified := func(ok outcome) outcome {
				if native {
					return ok
				}
				return outcome{code: codes.Unauthenticated}
			}
			tests := []struct {
				name   string
				ctx    context.Context
				method string
				want   outcome
			}{
				{"named service certificate acts for a user", call(protocol, "", orderCert, bob), methodInternal, certified(outcome{codes.OK, "order", bob})},
				{"named service certificate for itself", call(protocol, "", orderCert), methodInternal, certified(outcome{codes.OK, "order", ""})},
				{"service certificate not named is refused", call(protocol, "", billingCert, bob), methodInternal, certified(outcome{code: codes.PermissionDenied})},
				{"service certificate not named, on Authenticated", call(protocol, "", billingCert, bob), methodAuthed, certified(outcome{code: codes.PermissionDenied})},
				{"certificate without a SPIFFE ID names nobody", call(protocol, "", anonymousCert, bob), methodInternal, outcome{code: codes.Unauthenticated}},
				{"password service token is refused", call(protocol, password, nil, bob), methodInternal, outcome{code: codes.PermissionDenied}},
				{"password service token is refused beside a certificate", call(protocol, password, orderCert, bob), methodInternal, outcome{code: codes.PermissionDenied}},
				{"password service token is nobody on a public method", call(protocol, password, nil, bob), methodPublic, outcome{code: codes.OK, subject: ""}},
				{"customer token beside a service certificate is the customer", call(protocol, customer, orderCert, bob), methodAgent, outcome{codes.OK, alice.Subject, ""}},
				{"customer cannot act for another user", call(protocol, customer, nil, bob), methodAuthed, outcome{codes.OK, alice.Subject, ""}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					assert.Equal(t, tt.want, run(t, hook, tt.ctx, tt.method))
				})
			}
		})
	}
}

func TestActor(t *testing.T) {
	assert.Equal(t, "alice", Actor(Claims{Subject: "alice", Role: RoleCustomer}))
	assert.Equal(t, "bob", Actor(Claims{Subject: "order", Role: RoleService, OnBehalfOf: "bob"}))
	assert.Empty(t, Actor(Claims{}))
}
