package devconsole

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// testOpenAPI is a service's document as apidocs serves it, with a server
// the console must replace and a response code YAML reads as a number.
const testOpenAPI = `openapi: 3.0.3
info:
  title: catalog
  version: v1
servers:
  - url: http://somewhere.else
paths:
  /v1/products:
    get:
      operationId: ListProducts
      responses:
        200:
          description: OK
`

// realService is a platform/server App, the program every service runs,
// with a readiness check the test can fail.
type realService struct {
	app     *server.App
	url     string
	failing atomic.Bool
	stop    func()
	// login is a stand-in for the user service's POST /v1/sessions: it
	// gives adminToken to the admin's email and password.
	login      string
	adminToken string
}

const (
	testAdminEmail    = "admin@slipway.local"
	testAdminPassword = "slipway-admin"
)

// withAdmin gives o the admin login of s, as dev gives the console its
// admin: /debug/config answers admins only.
func (s *realService) withAdmin(o Options) Options {
	o.AdminLoginURL, o.AdminEmail, o.AdminPassword = s.login, testAdminEmail, testAdminPassword
	return o
}

func startRealService(t *testing.T) *realService {
	t.Helper()
	var base config.Base
	base.SetDefaults("catalog", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	base.ShutdownTimeout = 5 * time.Second
	base.Surface.HealthCheckInterval = 20 * time.Millisecond
	s := &realService{}
	s.failing.Store(true)
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	s.adminToken, _, err = signer.Sign(auth.Claims{Subject: "admin", Email: testAdminEmail, Role: auth.RoleAdmin})
	require.NoError(t, err)
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var creds struct{ Email, Password string }
		if json.NewDecoder(r.Body).Decode(&creds) != nil || creds.Email != testAdminEmail || creds.Password != testAdminPassword {
			http.Error(w, "invalid email or password", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"accessToken": s.adminToken})
	})
	logger := telemetry.NewLogger(io.Discard, "catalog", slog.LevelError)
	tp := sdktrace.NewTracerProvider()
	app, err := server.New(base, &base, logger, telemetry.NewRegistry(), tp,
		server.WithAuth(auth.Authenticate(auth.NewKeyVerifier(key.Public().(ed25519.PublicKey), auth.DefaultIssuer), auth.Policy{})),
		server.WithHTTPHandler("POST /v1/sessions", login),
		server.WithOpenAPI([]byte(testOpenAPI)),
		server.WithVersion("v1.2.3"),
		server.WithCheck("database", func(context.Context) error {
			if s.failing.Load() {
				return errors.New("database is locked")
			}
			return nil
		}))
	require.NoError(t, err)
	require.NoError(t, app.Listen())
	s.app, s.url = app, "http://"+app.HTTPAddr()
	s.login = s.url + "/v1/sessions"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("the service did not stop")
		}
	}
	t.Cleanup(s.stop)
	return s
}

// processes is a hand-written Processes: what dev's supervisor would say.
type processes struct {
	started time.Time
	running bool
}

func (p *processes) Process(string) (time.Time, bool) { return p.started, p.running }

// pollUntil polls the services until the named one is in state.
func pollUntil(t *testing.T, c *Console, name, state string) ServiceStatus {
	t.Helper()
	var last ServiceStatus
	require.Eventually(t, func() bool {
		c.poller.Poll(t.Context())
		for _, s := range c.poller.Snapshot().Services {
			if s.Name == name {
				last = s
				return s.State == state
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "%s never %s; last %+v", name, state, last)
	return last
}

func TestServiceMapFollowsARealService(t *testing.T) {
	svc := startRealService(t)
	procs := &processes{started: time.Now().Add(-time.Second), running: true}
	c, srv := startConsole(t, svc.withAdmin(Options{
		Services:  []Service{{Name: "catalog", GRPCAddr: svc.app.GRPCAddr(), HTTPURL: svc.url}},
		Processes: procs,
	}))

	// /readyz serves the result of the App's background check, so the
	// reason appears once that check has run after start.
	var m ServiceMap
	require.Eventually(t, func() bool {
		c.poller.Poll(t.Context())
		require.Equal(t, http.StatusOK, getJSON(t, srv.URL+"/api/services", &m))
		return len(m.Services) == 1 && m.Services[0].Error != "not_serving"
	}, 10*time.Second, 20*time.Millisecond, "the readiness reason never appeared: %+v", m)
	got := m.Services[0]
	assert.Equal(t, StateNotServing, got.State, "a failing readiness check")
	assert.Equal(t, "not_serving: database: database is locked", got.Error)
	assert.Equal(t, "catalog", got.Name)
	assert.Equal(t, svc.app.GRPCAddr(), got.GRPCAddr)
	assert.Equal(t, svc.url, got.HTTPURL)
	assert.Equal(t, svc.url+"/docs/", got.DocsURL)
	assert.Equal(t, "/api/openapi/catalog", got.OpenAPIURL)
	require.NotNil(t, got.StartedAt)
	assert.True(t, got.StartedAt.Equal(procs.started))
	assert.False(t, got.CheckedAt.IsZero())
	assert.Equal(t, Tracing{Mode: "local"}, m.Tracing)

	svc.failing.Store(false)
	serving := pollUntil(t, c, "catalog", StateServing)
	assert.Empty(t, serving.Error)
	var debug struct{ Version, Hash string }
	req, err := http.NewRequest(http.MethodGet, svc.url+"/debug/config", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+svc.adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&debug))
	resp.Body.Close()
	assert.Equal(t, "v1.2.3", serving.Version, "from /debug/config")
	assert.Equal(t, debug.Hash, serving.ConfigHash)
	assert.Len(t, serving.ConfigHash, 64)

	svc.stop()
	c.poller.Poll(t.Context())
	down := c.poller.Snapshot().Services[0]
	assert.Equal(t, StateDown, down.State, "it was SERVING since its process started, and now nothing answers")
	assert.Contains(t, down.Error, "connection refused")
	assert.Equal(t, "v1.2.3", down.Version, "the last version known is kept")

	procs.started = time.Now() // dev restarted it (hot reload): not SERVING since
	c.poller.Poll(t.Context())
	assert.Equal(t, StateStarting, c.poller.Snapshot().Services[0].State)
	procs.running = false
	c.poller.Poll(t.Context())
	st := c.poller.Snapshot().Services[0]
	assert.Equal(t, StateDown, st.State)
	assert.Nil(t, st.StartedAt, "no process, no start time")
}

// statusRecorder is a RoundTripper that notes the status of every answer
// to a path.
type statusRecorder struct {
	path string
	mu   sync.Mutex
	got  []int
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.URL.Path == r.path {
		r.mu.Lock()
		r.got = append(r.got, resp.StatusCode)
		r.mu.Unlock()
	}
	return resp, err
}

func (r *statusRecorder) statuses() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestUnchangedConfigCostsA304(t *testing.T) {
	svc := startRealService(t)
	svc.failing.Store(false)
	rec := &statusRecorder{path: "/debug/config"}
	c, _ := startConsole(t, svc.withAdmin(Options{
		Services: []Service{{Name: "catalog", GRPCAddr: svc.app.GRPCAddr(), HTTPURL: svc.url}},
		Client:   &http.Client{Transport: rec},
	}))
	first := pollUntil(t, c, "catalog", StateServing)
	require.Equal(t, "v1.2.3", first.Version)
	c.poller.Poll(t.Context())
	c.poller.Poll(t.Context())

	got := rec.statuses()
	require.GreaterOrEqual(t, len(got), 3)
	assert.Equal(t, http.StatusOK, got[0], "the first read has no ETag to send")
	for i, status := range got[1:] {
		assert.Equal(t, http.StatusNotModified, status, "read %d sends the ETag of the first", i+2)
	}
	st := c.poller.Snapshot().Services[0]
	assert.Equal(t, "v1.2.3", st.Version, "a 304 keeps what the 200 said")
	assert.Equal(t, first.ConfigHash, st.ConfigHash)
	assert.Empty(t, st.Error)
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ name, data string }

func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && ev.name != "":
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

func openStream(t *testing.T, url string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	return bufio.NewReader(resp.Body)
}

func stateIn(t *testing.T, ev sseEvent) string {
	t.Helper()
	require.Equal(t, "services", ev.name)
	var m ServiceMap
	require.NoError(t, json.Unmarshal([]byte(ev.data), &m), ev.data)
	require.Len(t, m.Services, 1)
	return m.Services[0].State
}

func TestServiceStreamSendsEveryChange(t *testing.T) {
	svc := startRealService(t)
	svc.failing.Store(false)
	c, srv := startConsole(t, svc.withAdmin(Options{
		Services:  []Service{{Name: "catalog", HTTPURL: svc.url}},
		Heartbeat: time.Hour, // only changes send events here
	}))
	stream := openStream(t, srv.URL+"/api/services/stream")
	assert.Equal(t, StateStarting, stateIn(t, readEvent(t, stream)), "the current map comes at once")

	pollUntil(t, c, "catalog", StateServing)
	// The service's HTTP server answers before it is ready, so a poll may
	// have seen NOT_SERVING on the way; every change is pushed, in order.
	for state := stateIn(t, readEvent(t, stream)); state != StateServing; state = stateIn(t, readEvent(t, stream)) {
		require.Equal(t, StateNotServing, state, "the change is pushed")
	}

	changes, done := c.poller.Subscribe()
	defer done()
	c.poller.Poll(t.Context())
	select {
	case <-changes:
		t.Fatal("a poll that changes nothing but the time of the check is no change")
	default:
	}

	svc.stop()
	c.poller.Poll(t.Context())
	<-changes // Poll notifies before it returns
	assert.Equal(t, StateDown, stateIn(t, readEvent(t, stream)))
}

func TestServiceStreamHeartbeat(t *testing.T) {
	_, srv := startConsole(t, Options{
		Services:  []Service{{Name: "catalog", HTTPURL: "http://127.0.0.1:1"}},
		Heartbeat: 10 * time.Millisecond,
	})
	stream := openStream(t, srv.URL+"/api/services/stream")
	for range 3 { // nothing polls, so these are heartbeats
		assert.Equal(t, StateStarting, stateIn(t, readEvent(t, stream)))
	}
}

func TestOpenAPIPointsTheExplorerAtTheService(t *testing.T) {
	svc := startRealService(t)
	closed := "http://" + closedAddr(t)
	_, srv := startConsole(t, svc.withAdmin(Options{Services: []Service{
		{Name: "catalog", HTTPURL: svc.url},
		{Name: "gone", HTTPURL: closed},
	}}))

	resp, err := http.Get(srv.URL + "/api/openapi/catalog")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Equal(t, "3.0.3", doc["openapi"])
	assert.Equal(t, []any{map[string]any{"url": svc.url, "description": "catalog in this dev session"}}, doc["servers"])
	op := doc["paths"].(map[string]any)["/v1/products"].(map[string]any)["get"].(map[string]any)
	assert.Equal(t, "ListProducts", op["operationId"])
	assert.Contains(t, op["responses"], "200", "numeric keys become strings")

	for _, tt := range []struct {
		path   string
		status int
		detail string
	}{
		{"/api/openapi/billing", http.StatusNotFound, `no service "billing"`},
		{"/api/openapi/gone", http.StatusBadGateway, "gone does not answer"},
	} {
		var p problem
		assert.Equal(t, tt.status, getJSON(t, srv.URL+tt.path, &p), tt.path)
		assert.Equal(t, tt.status, p.Status)
		assert.Contains(t, p.Detail, tt.detail)
	}
}

func TestOpenAPIWithServerRefusesWhatIsNoDocument(t *testing.T) {
	for _, doc := range []string{"- a list\n", "title: no version\n", "{not yaml"} {
		_, err := openAPIWithServer([]byte(doc), "http://x", "x")
		assert.Error(t, err, doc)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestServiceNeverSeenIsStarting(t *testing.T) {
	c, _ := startConsole(t, Options{Services: []Service{{Name: "catalog", HTTPURL: "http://" + closedAddr(t)}}})
	c.poller.Poll(t.Context())
	st := c.poller.Snapshot().Services[0]
	assert.Equal(t, StateStarting, st.State, "dev may still be building it")
	assert.Contains(t, st.Error, "connection refused", "why it is not up is still said")
	assert.Empty(t, st.Version)
	assert.Nil(t, st.StartedAt)
}

// TestConsoleReadsDebugConfigOnlyAsAdmin shows that /debug/config is closed
// to a console without the admin's login, and to one with a wrong password:
// the map says why instead of showing a version.
func TestConsoleReadsDebugConfigOnlyAsAdmin(t *testing.T) {
	svc := startRealService(t)
	svc.failing.Store(false)
	services := []Service{{Name: "catalog", HTTPURL: svc.url}}

	c, _ := startConsole(t, Options{Services: services})
	st := pollUntil(t, c, "catalog", StateServing)
	assert.Empty(t, st.Version)
	assert.Contains(t, st.Error, "/debug/config answered 401")

	wrong := svc.withAdmin(Options{Services: services})
	wrong.AdminPassword = "guessed"
	c, _ = startConsole(t, wrong)
	st = pollUntil(t, c, "catalog", StateServing)
	assert.Empty(t, st.Version)
	assert.Contains(t, st.Error, "admin login as "+testAdminEmail+" answered 401")

	c, _ = startConsole(t, svc.withAdmin(Options{Services: services}))
	st = pollUntil(t, c, "catalog", StateServing)
	assert.Equal(t, "v1.2.3", st.Version)
	assert.Empty(t, st.Error)
}
