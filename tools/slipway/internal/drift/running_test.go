package drift

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// serve answers every request with handle, on a loopback port, and returns
// its host:port.
func serve(t *testing.T, handle http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handle)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestFetchDebugConfig(t *testing.T) {
	auth := make(chan string, 1)
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		auth <- r.Header.Get("Authorization")
		_, _ = io.WriteString(w, `{"service": "user", "version": "v1", "hash": "h", "config": {"n": 1.50, "big": 12345678901234567890}}`)
	})
	dc, err := fetchDebugConfig(t.Context(), addr, time.Second, "tok")
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok", <-auth, "the admin token goes along")
	assert.Equal(t, "user", dc.Service)
	assert.Equal(t, json.Number("1.50"), dc.Config["n"], "numbers stay as written until normalised")

	tests := []struct {
		name   string
		handle http.HandlerFunc
		want   string
	}{
		{"not an admin", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) },
			"403 Forbidden: /debug/config needs an admin (set SLIPWAY_ADMIN_TOKEN, or ADMIN_EMAIL and ADMIN_PASSWORD)"},
		{"no such page", http.NotFound, "/debug/config: 404 Not Found"},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html>") }, "not a /debug/config document"},
		{"no config", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"service": "user"}`) }, `no "config" in the answer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetchDebugConfig(t.Context(), serve(t, tt.handle), time.Second, "")
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestFlattenConfigJSON(t *testing.T) {
	out := map[string]any{}
	flattenConfigJSON(map[string]any{
		"a": map[string]any{"b": json.Number("2"), "c": []any{json.Number("1.5"), "x"}},
		"d": "s",
		"e": json.Number("1e400"),
	}, "", out)
	assert.Equal(t, map[string]any{"a.b": float64(2), "a.c": []any{1.5, "x"}, "d": "s", "e": "1e400"}, out,
		"numbers become float64, one out of range stays as written")
}

func TestAdminToken(t *testing.T) {
	logins := make(chan map[string]string, 4)
	user := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/sessions" {
			http.NotFound(w, r)
			return
		}
		var login map[string]string
		_ = json.NewDecoder(r.Body).Decode(&login)
		logins <- login
		if login["password"] != "right" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"accessToken": "tok-123"}`)
	})
	opts := Options{Targets: map[string]string{"user": user}, AdminEmail: "ops@example.com", AdminPassword: "right", Timeout: time.Second}
	token, err := adminToken(t.Context(), opts)
	require.NoError(t, err)
	assert.Equal(t, "tok-123", token)
	assert.Equal(t, map[string]string{"email": "ops@example.com", "password": "right"}, <-logins)

	opts.AdminPassword = "wrong"
	_, err = adminToken(t.Context(), opts)
	assert.ErrorContains(t, err, "log in as ops@example.com at http://"+user+"/v1/sessions: 401 Unauthorized")

	opts.AdminToken = "given"
	token, err = adminToken(t.Context(), opts)
	require.NoError(t, err)
	assert.Equal(t, "given", token, "SLIPWAY_ADMIN_TOKEN needs no login")

	token, err = adminToken(t.Context(), Options{})
	require.NoError(t, err)
	assert.Empty(t, token, "no admin, no token: the request goes without")

	empty := serve(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{}`) })
	_, err = adminToken(t.Context(), Options{Targets: map[string]string{"user": empty}, AdminEmail: "a@b", Timeout: time.Second})
	assert.ErrorContains(t, err, "no access token in the answer")
}

func TestCompareRunning(t *testing.T) {
	declared, err := flattenConfigYAML([]byte("log_level: info\ntoken_ttl: 60m\nlimit: ten\ngone: 1\nsecret_key: s3\n"))
	require.NoError(t, err)
	s := &subject{
		name: "user", info: &Service{Declared: "user.yaml"}, declared: declared,
		schema: &configSchema{byKey: map[string]configField{
			"gone":       {Key: "gone", Kind: configKindNumber},
			"limit":      {Key: "limit", Kind: configKindNumber},
			"secret_key": {Key: "secret_key", Kind: configKindString, Secret: true},
		}},
		running: map[string]any{"log_level": "debug", "token_ttl": "1h0m0s", "limit": float64(10), "secret_key": "hmac-sha256:00", "grpc_addr": ":1", "api_key": "sha256:ff"},
	}
	d := &drifter{}
	d.compareRunning(s)
	byKey := map[string]Row{}
	for _, r := range d.report.Rows {
		byKey[r.Key] = r
	}
	assert.Equal(t, statusDiffers, byKey["log_level"].Status)
	assert.True(t, byKey["log_level"].Drift)
	assert.Equal(t, statusSame, byKey["token_ttl"].Status, "60m and 1h0m0s are the same duration")
	assert.Equal(t, statusInvalid, byKey["limit"].Status)
	assert.Equal(t, "ten", byKey["limit"].Declared, "an invalid value shows as written")
	assert.Equal(t, statusMissing, byKey["gone"].Status, "a known key the service does not report")
	assert.Equal(t, statusUnchecked, byKey["secret_key"].Status, "no fingerprint key")
	assert.Equal(t, secretShown, byKey["secret_key"].Declared)
	assert.Equal(t, statusUndeclared, byKey["grpc_addr"].Status)
	assert.False(t, byKey["grpc_addr"].Drift, "undeclared keys are info")
	assert.Equal(t, secretShown, byKey["api_key"].Found, "a fingerprint found is a secret, whatever the schema says")
	assert.Contains(t, d.report.Notes, "user.yaml: secret_key is a secret in the declared file; secrets belong in Secrets")

	s.schema = nil
	d = &drifter{}
	d.compareRunning(&subject{name: "user", info: &Service{}, declared: map[string]*yaml.Node{"nope": declared["gone"]}, running: map[string]any{}})
	require.Len(t, d.report.Rows, 1)
	assert.Equal(t, statusUnknown, d.report.Rows[0].Status, "a key the service has no field for: it refuses the file")
}
