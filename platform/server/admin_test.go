package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
)

// issuer mints real EdDSA tokens and builds the auth hook that verifies
// them, as every service does.
type issuer struct {
	signer *auth.Signer
	hook   server.Option
}

func newIssuer(t *testing.T) issuer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	verifier := auth.NewKeyVerifier(key.Public().(ed25519.PublicKey), auth.DefaultIssuer)
	policy := auth.Policy{inventoryv1.InventoryService_GetProduct_FullMethodName: auth.Public}
	return issuer{signer: auth.NewSigner(key, auth.DefaultIssuer, time.Hour), hook: server.WithAuth(auth.Authenticate(verifier, policy))}
}

func (i issuer) token(t *testing.T, subject string, role auth.Role) string {
	t.Helper()
	token, _, err := i.signer.Sign(auth.Claims{Subject: subject, Email: subject + "@example.com", Role: role})
	require.NoError(t, err)
	return token
}

type adminAnswer struct {
	status  int
	header  http.Header
	state   map[string]any
	problem server.Problem
}

func admin(t *testing.T, h *harness, method, token, body string) adminAnswer {
	t.Helper()
	req, err := http.NewRequest(method, h.baseURL+"/admin/faults", strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := adminAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == http.StatusOK {
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.NoError(t, json.Unmarshal(raw, &a.state), string(raw))
	} else {
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.NoError(t, json.Unmarshal(raw, &a.problem), string(raw))
		assert.Equal(t, resp.StatusCode, a.problem.Status)
	}
	return a
}

func fieldsOf(p server.Problem) []string {
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	return fields
}

const chaosBody = `{"rules":[{"method":"/slipway.inventory.v1.InventoryService/","code":"UNAVAILABLE","rate":1,"delay":"1ms"}]}`

func TestAdminFaultsNeedsAnAdminToken(t *testing.T) {
	iss := newIssuer(t)
	h := start(t, func(b *config.Base) { b.FaultsEnabled = true }, iss.hook)
	other := newIssuer(t)

	tests := []struct {
		name, token string
		want        int
		code        string
	}{
		{"no token", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"garbage token", "not-a-jwt", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"admin token of another issuer's key", other.token(t, "mallory", auth.RoleAdmin), http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"customer", iss.token(t, "alice", auth.RoleCustomer), http.StatusForbidden, "PERMISSION_DENIED"},
		{"another service", iss.token(t, "order", auth.RoleService), http.StatusForbidden, "PERMISSION_DENIED"},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				a := admin(t, h, method, tt.token, chaosBody)
				assert.Equal(t, tt.want, a.status)
				assert.Equal(t, tt.code, a.problem.Code)
				if tt.want == http.StatusUnauthorized {
					assert.Equal(t, `Bearer realm="slipway"`, a.header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	assert.Empty(t, h.app.Faults().Rules(), "no refused request changed the rules")
	assert.NotContains(t, h.logs.String(), "fault rules set")
}

func TestAdminFaultsSetsShowsAndClearsRules(t *testing.T) {
	iss := newIssuer(t)
	h := start(t, func(b *config.Base) { b.FaultsEnabled = true }, iss.hook)
	token := iss.token(t, "admin-1", auth.RoleAdmin)
	inventory := inventoryv1.NewInventoryServiceClient(h.grpcConn)
	getProduct := func() error {
		_, err := inventory.GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "mug"})
		return err
	}

	got := admin(t, h, http.MethodGet, token, "")
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, map[string]any{"enabled": true, "rules": []any{}}, got.state)

	put := admin(t, h, http.MethodPut, token,
		`{"rules":[{"method":"/slipway.inventory.v1.InventoryService/","code":"UNAVAILABLE","rate":0.4,"delay":"150ms"},{"method":"*","delay":"1ms"}]}`)
	require.Equal(t, http.StatusOK, put.status, "%+v", put.problem)
	want := map[string]any{"enabled": true, "rules": []any{
		map[string]any{"method": "/slipway.inventory.v1.InventoryService/", "code": "UNAVAILABLE", "rate": 0.4, "delay": "150ms"},
		map[string]any{"method": "*", "rate": 0.0, "delay": "1ms"},
	}}
	assert.Equal(t, want, put.state, "PUT answers with the new state")
	assert.Equal(t, want, admin(t, h, http.MethodGet, token, "").state, "GET shows it")
	require.Len(t, h.app.Faults().Rules(), 2)
	assert.Equal(t, codes.Unavailable, h.app.Faults().Rules()[0].Code)
	assert.Equal(t, 150*time.Millisecond, h.app.Faults().Rules()[0].Delay)

	assert.Contains(t, h.logs.String(), `"msg":"fault rules set"`)
	assert.Contains(t, h.logs.String(), `"by":"admin-1"`, "every change names who made it")
	assert.Contains(t, h.logs.String(), `"email":"admin-1@example.com"`)

	t.Run("the rules act on RPCs", func(t *testing.T) {
		require.Equal(t, http.StatusOK, admin(t, h, http.MethodPut, token, chaosBody).status)
		assert.Equal(t, codes.Unavailable, status.Code(getProduct()))
	})

	t.Run("DELETE clears them", func(t *testing.T) {
		del := admin(t, h, http.MethodDelete, token, "")
		require.Equal(t, http.StatusOK, del.status)
		assert.Equal(t, map[string]any{"enabled": true, "rules": []any{}}, del.state)
		assert.NoError(t, getProduct())
		assert.Contains(t, h.logs.String(), `"msg":"fault rules cleared"`)
	})

	t.Run("other methods are refused", func(t *testing.T) {
		a := admin(t, h, http.MethodPost, token, chaosBody)
		assert.Equal(t, http.StatusMethodNotAllowed, a.status)
		assert.Equal(t, "GET, PUT, DELETE", a.header.Get("Allow"))
	})
}

func TestAdminFaultsRejectsBadRules(t *testing.T) {
	iss := newIssuer(t)
	h := start(t, func(b *config.Base) { b.FaultsEnabled = true }, iss.hook)
	token := iss.token(t, "admin-1", auth.RoleAdmin)
	require.Equal(t, http.StatusOK, admin(t, h, http.MethodPut, token, chaosBody).status)

	tests := []struct {
		name, body string
		fields     []string
	}{
		{"not JSON", `{"rules":[`, []string{"body"}},
		{"empty body", ``, []string{"body"}},
		{"no rules key", `{}`, []string{"rules"}},
		{"unknown top-level key", `{"rules":[],"enabled":true}`, []string{"body"}},
		{"unknown code", `{"rules":[{"method":"*","code":"EXPLODE","rate":1}]}`, []string{"rules[0].code"}},
		{"rate out of range", `{"rules":[{"method":"*","code":"UNAVAILABLE","rate":1.5}]}`, []string{"rules[0].rate"}},
		{"bad delay", `{"rules":[{"method":"*","delay":"soon"}]}`, []string{"rules[0].delay"}},
		{"negative delay", `{"rules":[{"method":"*","delay":"-1s"}]}`, []string{"rules[0].delay"}},
		{"rule that does nothing", `{"rules":[{"method":"*","rate":1}]}`, []string{"rules[0].code"}},
		{"every bad rule is named", `{"rules":[{"method":"*","code":"ABORTED","rate":0.1},{"method":"","code":"ABORTED","rate":1},{"method":"*","code":"ABORTED","rate":2}]}`,
			[]string{"rules[1].method", "rules[2].rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := admin(t, h, http.MethodPut, token, tt.body)
			assert.Equal(t, http.StatusBadRequest, a.status)
			assert.Equal(t, "INVALID_ARGUMENT", a.problem.Code)
			assert.Equal(t, tt.fields, fieldsOf(a.problem), "%+v", a.problem)
			for _, e := range a.problem.Errors {
				assert.NotEmpty(t, e.Description)
			}
		})
	}
	rules := h.app.Faults().Rules()
	require.Len(t, rules, 1, "a refused PUT leaves the rules as they were")
	assert.Equal(t, "/slipway.inventory.v1.InventoryService/", rules[0].Method)
}

func TestAdminFaultsWhenFaultInjectionIsDisabled(t *testing.T) {
	iss := newIssuer(t)
	h := start(t, nil, iss.hook)
	token := iss.token(t, "admin-1", auth.RoleAdmin)

	got := admin(t, h, http.MethodGet, token, "")
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, map[string]any{"enabled": false, "rules": []any{}}, got.state)
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		a := admin(t, h, method, token, chaosBody)
		assert.Equal(t, http.StatusConflict, a.status, method)
		assert.Equal(t, "fault injection is disabled (FAULTS_ENABLED=false)", a.problem.Detail, method)
	}
	assert.Empty(t, h.app.Faults().Rules())

	t.Run("a service without an auth hook has no admins", func(t *testing.T) {
		h := start(t, func(b *config.Base) { b.FaultsEnabled = true })
		a := admin(t, h, http.MethodPut, token, chaosBody)
		assert.Equal(t, http.StatusForbidden, a.status)
		assert.Empty(t, h.app.Faults().Rules())
	})
}
