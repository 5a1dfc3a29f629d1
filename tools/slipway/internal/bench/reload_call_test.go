package bench

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scratchdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitFor polls until the answer shows the marker, through the failures
// of a service that restarts, and gives up after the timeout.
func TestReloadCallWaitFor(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch n := calls.Add(1); {
		case n <= 2:
			http.Error(w, "restarting", http.StatusServiceUnavailable)
		case n <= 4:
			_, _ = w.Write([]byte(`{"description":"old"}`))
		default:
			_, _ = w.Write([]byte(`{"description":"old [bench 1]"}`))
		}
	}))
	defer srv.Close()
	c := &reloadCall{url: srv.URL, client: srv.Client()}

	before := time.Now()
	seen, err := c.waitFor(t.Context(), "[bench 1]", 10*time.Second)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, calls.Load(), int32(5))
	assert.True(t, seen.After(before))

	_, err = c.waitFor(t.Context(), "[bench 2]", 100*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), srv.URL+" did not show the change within 100ms (last: ")

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer failing.Close()
	c = &reloadCall{url: failing.URL, client: failing.Client()}
	_, err = c.get(t.Context())
	require.Error(t, err)
	assert.Equal(t, "500 Internal Server Error: boom", err.Error(), "a failed call names the status and the body")
	_, err = c.waitFor(t.Context(), "", 100*time.Millisecond)
	require.Error(t, err, "no 200 answer, not even an empty want is met")
}

// signIn registers a user, logs in, and sends the token with every call.
func TestReloadCallSignIn(t *testing.T) {
	var (
		sessions atomic.Value // what /v1/sessions answers
		users    atomic.Int32 // the status of /v1/users
		gotAuth  atomic.Value
	)
	users.Store(http.StatusOK)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !strings.HasPrefix(body["email"], "bench-") || body["password"] == "" {
			http.Error(w, "bad registration", http.StatusBadRequest)
			return
		}
		if status := int(users.Load()); status != http.StatusOK {
			http.Error(w, "taken", status)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	})
	mux.HandleFunc("POST /v1/sessions", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(sessions.Load().(string))) })
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"displayName":"Bench"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	newCall := func(login bool) *reloadCall {
		return &reloadCall{edit: reloadEdit{Login: login}, url: srv.URL + "/v1/me", client: srv.Client()}
	}

	sessions.Store(`{"accessToken":"tok-1"}`)
	c := newCall(true)
	require.NoError(t, c.signIn(t.Context(), addr))
	_, err := c.get(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok-1", gotAuth.Load())

	c = newCall(false)
	require.NoError(t, c.signIn(t.Context(), "127.0.0.1:1"), "a call without login signs in nowhere")
	_, err = c.get(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "", gotAuth.Load(), "and sends no token")

	sessions.Store(`{"error":"no"}`)
	err = newCall(true).signIn(t.Context(), addr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "login answered no access token")

	users.Store(http.StatusConflict)
	err = newCall(true).signIn(t.Context(), addr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "POST /v1/users: 409 Conflict: taken")
}

func TestPostgresServer(t *testing.T) {
	closed := "postgres://postgres@127.0.0.1:" + strconv.Itoa(clitest.FreePort(t)) + "/postgres?connect_timeout=2"

	url, skipped, err := postgresServer(t.Context(), startupOptions{NoPostgres: true})
	require.NoError(t, err)
	assert.Empty(t, url)
	assert.Equal(t, "--no-postgres", skipped)

	_, _, err = postgresServer(t.Context(), startupOptions{Postgres: closed})
	require.Error(t, err, "a server named with --postgres must answer")
	assert.Contains(t, err.Error(), "does not answer")

	url, skipped, err = postgresServer(t.Context(), startupOptions{Options: Options{Environ: []string{"POSTGRES_TEST_URL=" + closed}}})
	require.NoError(t, err, "the default server may be absent: skipped")
	assert.Empty(t, url)
	assert.Contains(t, skipped, "(set --postgres or POSTGRES_TEST_URL)")

	url, _, err = postgresServer(t.Context(), startupOptions{})
	if err != nil || url == "" {
		t.Skipf("PostgreSQL at %s is not running here", scratchdb.DefaultServerURL)
	}
	assert.Equal(t, scratchdb.DefaultServerURL, url)
}

func TestMinimalEnviron(t *testing.T) {
	got := minimalEnviron([]string{"PATH=/bin", "HOME=/home/me", "DATABASE_URL=x", "SECRET=y", "LANG=C.UTF-8", "GOFLAGS=-v"})
	assert.Equal(t, []string{"PATH=/bin", "HOME=/home/me", "LANG=C.UTF-8"}, got)
}
