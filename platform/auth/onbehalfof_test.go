package auth

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"
)

func TestAuthenticateOnBehalfOf(t *testing.T) {
	key := newKey(t)
	s := NewSigner(key, "slipway", time.Hour)
	hook := Authenticate(NewKeyVerifier(key.Public().(ed25519.PublicKey), "slipway"), testPolicy)
	const bob = "0192f0c6-0000-7000-8000-000000000002"

	tokens := map[Role]string{
		RoleService:  sign(t, s, Claims{Subject: "order", Role: RoleService}),
		RoleCustomer: sign(t, s, alice),
		RoleAdmin:    sign(t, s, Claims{Subject: "root", Role: RoleAdmin}),
	}
	incoming := func(role Role, onBehalfOf ...string) context.Context {
		md := metadata.Pairs("authorization", "Bearer "+tokens[role])
		for _, v := range onBehalfOf {
			md.Append(OnBehalfOfHeader, v)
		}
		return metadata.NewIncomingContext(context.Background(), md)
	}

	tests := []struct {
		name      string
		ctx       context.Context
		method    string
		wantOBO   string
		wantActor string
	}{
		{"service acting for a user", incoming(RoleService, bob), methodInternal, bob, bob},
		{"service on a public method", incoming(RoleService, bob), methodPublic, bob, bob},
		{"service acting for itself", incoming(RoleService), methodInternal, "", "order"},
		{"service with a blank header", incoming(RoleService, "  "), methodInternal, "", "order"},
		{"first of several values", incoming(RoleService, bob, alice.Subject), methodInternal, bob, bob},
		{"customer cannot act for another user", incoming(RoleCustomer, bob), methodAuthed, "", alice.Subject},
		{"customer ignored on a public method", incoming(RoleCustomer, bob), methodPublic, "", alice.Subject},
		{"admin is not a service", incoming(RoleAdmin, bob), methodInternal, "", "root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := hook(tt.ctx, tt.method)
			require.NoError(t, err)
			c, ok := FromContext(ctx)
			require.True(t, ok)
			assert.Equal(t, tt.wantOBO, c.OnBehalfOf)
			assert.Equal(t, tt.wantActor, Actor(c))
		})
	}
}

func TestActor(t *testing.T) {
	assert.Equal(t, "alice", Actor(Claims{Subject: "alice", Role: RoleCustomer}))
	assert.Equal(t, "bob", Actor(Claims{Subject: "order", Role: RoleService, OnBehalfOf: "bob"}))
	assert.Empty(t, Actor(Claims{}))
}
